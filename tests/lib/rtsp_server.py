"""rtsp_server.py — the RTSP server the live-protocol tests pull from: GStreamer's
gst-rtsp-server serving one live H.264 + AAC test stream, as an IP camera does.

Usage: /usr/bin/python3 rtsp_server.py [--tcp-only] [--prestart] PORT [MOUNT]
(MOUNT defaults to /cam)

Serves rtsp://127.0.0.1:PORT/MOUNT: a 640x360 30 fps test picture in H.264 (constrained
baseline, zerolatency, keyframe every 30 frames, no B-frames) and a 440 Hz tone in AAC-LC
(44.1 kHz mono, 64 kb/s), over RTP on UDP or interleaved in the RTSP TCP connection, as the
client asks. The stream starts at the first client's DESCRIBE and is shared by every client
while one plays. SIGTERM or SIGINT stops it. Prints one line when the port is open and one
per SETUP it accepts, with the transport the client asked for. Needs python3-gi,
gir1.2-gst-rtsp-server-1.0 and the GStreamer plugins named in scripts/deps.sh; exits 3 when
the GStreamer introspection modules are missing."""

import argparse
import signal
import sys
import threading

NO_INTROSPECTION = 3  # exit code: python3-gi or the GStreamer typelibs are missing

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtsp", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtsp, GstRtspServer
except (ImportError, ValueError) as e:
    print("rtsp_server: GStreamer RTSP introspection unavailable: %s" % e, file=sys.stderr)
    sys.exit(NO_INTROSPECTION)


PIPELINE = (
    "( videotestsrc is-live=true pattern=smpte "
    "! video/x-raw,width=640,height=360,framerate=30/1 ! videoconvert "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bframes=0 bitrate=800 "
    "! video/x-h264,profile=constrained-baseline "
    "! rtph264pay name=pay0 pt=96 config-interval=-1 "
    "audiotestsrc is-live=true wave=sine freq=440 "
    "! audio/x-raw,rate=44100,channels=1 ! audioconvert ! audioresample "
    "! avenc_aac bitrate=64000 ! rtpmp4gpay name=pay1 pt=97 )")


def main(argv):
    ap = argparse.ArgumentParser(prog="rtsp_server.py")
    ap.add_argument("port", type=int)
    ap.add_argument("mount", nargs="?", default="/cam")
    ap.add_argument("--tcp-only", action="store_true",
                    help="refuse RTP over UDP (461): clients must interleave it in RTSP/TCP")
    ap.add_argument("--prestart", action="store_true",
                    help="start the stream before the port opens, not at the first client's "
                         "DESCRIBE. GStreamer's (1.22) RTCP sender reports to that first client "
                         "then disagree between the tracks by about the time it waited; FFmpeg's "
                         "RTP demuxer turns that into a forward jump of one track's timestamps "
                         "when the report comes: a source with broken RTCP, on purpose")
    args = ap.parse_args(argv[1:])
    port, mount = str(args.port), args.mount
    Gst.init(None)
    missing = [e for e in ("videotestsrc", "audiotestsrc", "x264enc", "avenc_aac",
                           "rtph264pay", "rtpmp4gpay") if Gst.ElementFactory.find(e) is None]
    if missing:
        print("rtsp_server: GStreamer elements missing: %s" % " ".join(missing),
              file=sys.stderr)
        return 1

    loop = GLib.MainLoop()
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE)
    factory.set_shared(True)
    if args.tcp_only:
        factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
    server.get_mount_points().add_factory(mount, factory)

    def on_setup(client, ctx):
        # one line per accepted SETUP with the transport the client asked for (for tests)
        _, transport = ctx.request.get_header(GstRtsp.RTSPHeaderField.TRANSPORT, 0)
        print("rtsp_server: SETUP %s %s" % (ctx.uri.abspath if ctx.uri else "?", transport),
              flush=True)

    server.connect("client-connected",
                   lambda _server, client: client.connect("setup-request", on_setup))

    failed = []

    def listen():
        if server.attach(None) == 0:
            failed.append("cannot listen on 127.0.0.1:%s" % port)
            loop.quit()
        else:
            print("rtsp_server: serving rtsp://127.0.0.1:%s%s" % (port, mount), flush=True)
        return False

    media = None
    if args.prestart:
        # The shared media made now (the factory caches it under the URL every client asks
        # for) and held prepared until exit. prepare() waits for the pipeline to preroll,
        # which needs the main loop's bus watch: it runs on its own thread, and the port
        # opens once it is done.
        _, url = GstRtsp.RTSPUrl.parse("rtsp://127.0.0.1:%s%s" % (port, mount))
        media = factory.construct(url)

        def prepare():
            if media is not None and media.prepare(None):
                GLib.idle_add(listen)
            else:
                failed.append("the test stream did not start")
                GLib.idle_add(loop.quit)

        threading.Thread(target=prepare, daemon=True).start()
    else:
        GLib.idle_add(listen)
    for sig in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    loop.run()
    if media is not None and not failed:
        media.unprepare()
    for f in failed:
        print("rtsp_server: %s" % f, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
