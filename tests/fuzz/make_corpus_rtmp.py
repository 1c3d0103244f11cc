#!/usr/bin/env python3
"""make_corpus_rtmp.py — writes the seed inputs of fuzz_rtmp into corpus_rtmp/: what a server
sends a play or publish client (connect and createStream answers, onStatus, user control,
media), a chunk stream with extended timestamps and a chunk size change, and AMF commands.
The first byte of each seed picks the fuzz target (see fuzz_rtmp.c)."""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus_rtmp")


def amf_str(s):
    b = s.encode()
    return b"\x02" + struct.pack(">H", len(b)) + b


def amf_num(x):
    return b"\x00" + struct.pack(">d", x)


def amf_obj(pairs):
    out = b"\x03"
    for k, v in pairs:
        out += struct.pack(">H", len(k)) + k.encode() + v
    return out + b"\x00\x00\x09"


NULL = b"\x05"


def chunks(csid, mtype, sid, ts, body, size=128):
    """One message as type 0 + type 3 chunks (csid below 64)."""
    ext = ts >= 0xFFFFFF
    hdr = bytes([csid]) + (b"\xff\xff\xff" if ext else ts.to_bytes(3, "big"))
    hdr += len(body).to_bytes(3, "big") + bytes([mtype]) + struct.pack("<I", sid)
    if ext:
        hdr += struct.pack(">I", ts)
    out, first = b"", True
    for i in range(0, max(len(body), 1), size):
        if not first:
            out += bytes([0xC0 | csid]) + (struct.pack(">I", ts) if ext else b"")
        out += (hdr if first else b"") + body[i:i + size]
        first = False
    return out


def status(code, level="status", desc="x"):
    return amf_str("onStatus") + amf_num(0) + NULL + amf_obj(
        [("level", amf_str(level)), ("code", amf_str(code)), ("description", amf_str(desc))])


def result(txn, value):
    return amf_str("_result") + amf_num(txn) + NULL + value


def connect_answer():
    win = chunks(2, 5, 0, 0, struct.pack(">I", 5000000))
    bw = chunks(2, 6, 0, 0, struct.pack(">IB", 5000000, 2))
    size = chunks(2, 1, 0, 0, struct.pack(">I", 4096))
    ok = result(1, amf_obj([("code", amf_str("NetConnection.Connect.Success"))]))
    return win + bw + size + chunks(3, 20, 0, 0, ok, 4096)


def media(size=4096):
    meta = amf_str("@setDataFrame") + amf_str("onMetaData") + amf_obj([("width", amf_num(640))])
    out = chunks(5, 18, 1, 0, meta, size)
    out += chunks(4, 8, 1, 0, b"\xaf\x00\x12\x10", size)
    out += chunks(6, 9, 1, 40, b"\x17\x01\x00\x00\x21" + b"\x00" * 200, size)
    return out


# x264's headers of a 320x240 stream (an AVC sequence header tag body) and the start of its
# first IDR slice, so the seed reaches the H.264 size probe of the FLV track mapping.
AVC_HEADER = bytes.fromhex("17000000000142c00dffe100166742c00dda0507ec0440000003004000000f03c50aa8"
                           "01000468ce0fc8")
IDR_START = bytes.fromhex("6588843a0c600142032210838f3cc78025d000101d002b4d83318db5080810c88081"
                          "1800391978535441984a02517ff8")


def avc_media(ts=0):
    """A sequence header, a keyframe, a new sequence header (another size) and a frame."""
    key = b"\x17\x01\x00\x00\x00" + len(IDR_START).to_bytes(4, "big") + IDR_START
    other = AVC_HEADER[:14] + b"\x1e" + AVC_HEADER[15:]
    out = chunks(6, 9, 1, ts, AVC_HEADER) + chunks(6, 9, 1, ts, key)
    out += chunks(4, 8, 1, ts, b"\xaf\x00\x11\x90") + chunks(4, 8, 1, ts + 10, b"\xaf\x01" + bytes(40))
    out += chunks(6, 9, 1, ts + 33, other) + chunks(6, 9, 1, ts + 33, key)
    return out


def aggregate():
    """An aggregate message: FLV tags with back pointers."""
    out = b""
    for mtype, ts, body in ((9, 1000, b"\x17\x01\x00\x00\x00v"), (8, 1010, b"\xaf\x01a"),
                            (9, 1033, b"\x27\x01\x00\x00\x00w")):
        out += bytes([mtype]) + len(body).to_bytes(3, "big") + (ts & 0xFFFFFF).to_bytes(3, "big")
        out += bytes([ts >> 24]) + b"\x00\x00\x00" + body + struct.pack(">I", len(body) + 11)
    return out


def seeds():
    play = connect_answer() + chunks(3, 20, 0, 0, result(2, amf_num(1)), 4096)
    play += chunks(2, 4, 0, 0, b"\x00\x00\x00\x00\x00\x01", 4096)
    play += chunks(3, 20, 1, 0, status("NetStream.Play.Start"), 4096)
    play += chunks(2, 4, 0, 0, b"\x00\x06\x00\x00\x04\xd2", 4096)
    play += media()
    play += chunks(6, 22, 1, 5000, aggregate(), 4096)
    play += chunks(3, 20, 1, 0, status("NetStream.Play.UnpublishNotify"), 4096)
    play += chunks(2, 4, 0, 0, b"\x00\x01\x00\x00\x00\x01", 4096)
    yield "session-play", b"\x02" + play
    pub = connect_answer() + chunks(3, 20, 0, 0, result(4, amf_num(1)), 4096)
    pub += chunks(3, 20, 1, 0, status("NetStream.Publish.Start"), 4096)
    yield "session-publish", b"\x03" + pub
    bad = connect_answer() + chunks(3, 20, 0, 0, result(4, amf_num(1)), 4096)
    bad += chunks(3, 20, 1, 0, status("NetStream.Publish.BadName", "error", "busy"), 4096)
    yield "session-publish-badname", b"\x07" + bad
    ext = chunks(7, 9, 1, (1 << 24) + 16, b"\x27\x01\x00\x00\x00" + b"\x01" * 300)
    ext += chunks(2, 1, 0, 0, struct.pack(">I", 300)) + media(300)
    yield "reader-ext-ts-chunk-size", b"\x00" + ext
    yield "reader-connect", b"\x04" + connect_answer()
    yield "reader-avc-aac", b"\x00" + avc_media(0xFFFFFF00)
    yield "amf-status", b"\x01" + status("NetStream.Play.Start")
    yield "amf-metadata", b"\x01" + amf_str("onMetaData") + b"\x08\x00\x00\x00\x01" + \
        b"\x00\x05width" + amf_num(1280) + b"\x00\x00\x09" + \
        b"\x0a\x00\x00\x00\x02\x05\x06" + b"\x0b" + struct.pack(">dh", 1.7e12, 0)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in seeds():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
