"""fake_rtmp.py — a small RTMP server for tests, on loopback: it answers a player's connect,
createStream and play like a real server, then does what a test scripts — plays the tags of
an FLV file (chunk size changes, timestamps near 2^32, a new sequence header), or misbehaves
(garbage handshake, a chunk size of 0 or 2^31, an unknown chunk stream, AMF nested 10,000
deep, video that never has a keyframe). Each connection is served on its own thread."""

import socket
import struct
import threading
import time

HS = 1536


def read_flv(path):
    """The tags of an FLV file: (type, timestamp ms, body)."""
    data = open(path, "rb").read()
    pos = 9 + 4
    tags = []
    while pos + 11 <= len(data):
        ttype = data[pos] & 0x1f
        size = int.from_bytes(data[pos + 1:pos + 4], "big")
        ts = int.from_bytes(data[pos + 4:pos + 7], "big") | data[pos + 7] << 24
        tags.append((ttype, ts, data[pos + 11:pos + 11 + size]))
        pos += 11 + size + 4
    return tags


def amf_str(s):
    b = s.encode()
    return b"\x02" + len(b).to_bytes(2, "big") + b


def amf_num(v):
    return b"\x00" + struct.pack(">d", v)


def amf_obj(pairs):
    out = b"\x03"
    for k, v in pairs:
        kb = k.encode()
        out += len(kb).to_bytes(2, "big") + kb + v
    return out + b"\x00\x00\x09"


class Conn:
    """One player's connection: reads its chunks, writes messages in chunks."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.in_chunk = 128
        self.out_chunk = 128
        self.streams = {}  # csid -> [type, len, body so far]

    def _need(self, n):
        while len(self.buf) < n:
            more = self.sock.recv(65536)
            if not more:
                raise EOFError
            self.buf += more
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def handshake(self):
        self._need(1 + HS)
        self.sock.sendall(b"\x03" + bytes(HS) + bytes(HS))
        self._need(HS)

    def read_message(self):
        """The next complete message from the player: (type, body)."""
        while True:
            b0 = self._need(1)[0]
            fmt, csid = b0 >> 6, b0 & 63
            if csid == 0:
                csid = 64 + self._need(1)[0]
            elif csid == 1:
                x = self._need(2)
                csid = 64 + x[0] + 256 * x[1]
            st = self.streams.setdefault(csid, [0, 0, b""])
            hdr = self._need([11, 7, 3, 0][fmt])
            if fmt <= 1:
                st[1] = int.from_bytes(hdr[3:6], "big")
                st[0] = hdr[6]
            if fmt <= 2 and int.from_bytes(hdr[0:3], "big") == 0xffffff:
                self._need(4)
            take = min(self.in_chunk, st[1] - len(st[2]))
            st[2] += self._need(take)
            if len(st[2]) == st[1]:
                body, st[2] = st[2], b""
                if st[0] == 1:
                    self.in_chunk = int.from_bytes(body[:4], "big")
                    continue
                return st[0], body

    def read_command(self):
        """The next AMF0 command: (name, transaction id)."""
        while True:
            mtype, body = self.read_message()
            if mtype != 20 or body[:1] != b"\x02":
                continue
            n = int.from_bytes(body[1:3], "big")
            name = body[3:3 + n].decode(errors="replace")
            txn = struct.unpack(">d", body[4 + n:12 + n])[0] if body[3 + n:4 + n] == b"\x00" else 0
            return name, txn

    def send(self, csid, mtype, ts, body, sid=0):
        ts &= 0xffffffff
        ext = ts >= 0xffffff
        field = 0xffffff if ext else ts
        out = bytearray([csid]) + field.to_bytes(3, "big") + len(body).to_bytes(3, "big")
        out += bytes([mtype]) + sid.to_bytes(4, "little")
        if ext:
            out += ts.to_bytes(4, "big")
        for i in range(0, max(len(body), 1), self.out_chunk):
            if i:
                out += bytes([0xc0 | csid]) + (ts.to_bytes(4, "big") if ext else b"")
            out += body[i:i + self.out_chunk]
        self.sock.sendall(bytes(out))

    def set_chunk_size(self, size, apply=True):
        self.send(2, 1, 0, (size & 0xffffffff).to_bytes(4, "big"))
        if apply:
            self.out_chunk = size

    def on_status(self, code, level="status"):
        body = amf_str("onStatus") + amf_num(0) + b"\x05" + amf_obj(
            [("level", amf_str(level)), ("code", amf_str(code)),
             ("description", amf_str(code))])
        self.send(5, 20, 0, body, sid=1)

    def accept_play(self):
        """Answers connect, createStream and play; returns when the player plays."""
        while True:
            name, txn = self.read_command()
            if name == "connect":
                self.send(2, 5, 0, (2500000).to_bytes(4, "big"))
                self.send(3, 20, 0, amf_str("_result") + amf_num(txn) + b"\x05" + amf_obj(
                    [("code", amf_str("NetConnection.Connect.Success"))]))
            elif name == "createStream":
                self.send(3, 20, 0, amf_str("_result") + amf_num(txn) + b"\x05" + amf_num(1))
            elif name == "play":
                self.send(2, 4, 0, b"\x00\x00" + (1).to_bytes(4, "big"))  # StreamBegin
                self.on_status("NetStream.Play.Start")
                return

    def send_tag(self, ttype, ts, body):
        csid = {8: 4, 9: 6}.get(ttype, 5)
        self.send(csid, ttype, ts, body, sid=1)

    def play_tags(self, tags, ts_offset=0, pace=True, every=None):
        """Sends the tags in real time (pace) from the first one's timestamp; every(i) is
        called before tag i (to change the chunk size, for instance)."""
        t0 = time.monotonic()
        first = tags[0][1] if tags else 0
        for i, (ttype, ts, body) in enumerate(tags):
            if every:
                every(i)
            if pace:
                # one reading of the clock: read twice, the second could be past due and
                # sleep() would raise on a negative wait, ending the stream at random
                wait = t0 + (ts - first) / 1000.0 - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            self.send_tag(ttype, ts + ts_offset, body)


class FakeRtmpServer:
    """Listens on 127.0.0.1; every connection runs serve(conn) on its own thread."""

    def __init__(self, serve):
        self.serve = serve
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, app="live", name="key"):
        return "rtmp://127.0.0.1:%d/%s/%s" % (self.port, app, name)

    def _accept(self):
        while not self.closed:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._run, args=(s,), daemon=True).start()

    def _run(self, s):
        try:
            self.serve(Conn(s))
        except (EOFError, OSError):
            pass
        finally:
            s.close()

    def close(self):
        self.closed = True
        self.sock.close()
