#!/usr/bin/env python3
"""tbbench: the servers and clients of the kernel benchmark (docs/performance.md).

Every column of a row runs the same code here; only the protocol bytes differ
(Timbuktu frames of the wire model, docs/protocol-model.md#b1 to #b5, built
byte by byte as in tests/kernel/tools/tbattack.py, or FTP's PASV), so a ratio
compares the firewall paths, not two programs.

  serve    --listen ADDR [--tb-port 407] [--ftp-port 21] [--udp-port 407]  (host)
           TCP 407: a HELLO; services 1-4: HELLO-ACK + 64 bytes of service
           data, then a sink; service 0 (probe): HELLO-ACK, then a sink of
           frames; service 5 (chat): HELLO-ACK + PORT-OFFER of a fresh TCP
           port, one connection accepted there, one byte sent. A sink answers
           the byte count when the client half-closes.
           TCP 21: "220", PASV -> "227 (...)" for a fresh port, one
           connection accepted there, one byte sent; QUIT -> "221" (the
           benchmark's client closes instead, as it does the Timbuktu contact).
           UDP 407: read and discard.
  bulk     --host H --mode detached|framed --seconds S
           HELLO (control: the helper detaches the stream after the HELLO-ACK;
           probe: the stream stays framed), then S seconds of data (framed:
           guest frames of an opcode the model ignores, B6), half-close, the
           sink's count. JSON: bytes, seconds, mbit_s.
  sessions --proto tb|ftp --host H --seconds S --parallel N
           N threads, each one session after another for S seconds: contact,
           offer (HELLO-ACK + PORT-OFFER of chat, or 227), offered TCP stream
           opened and one byte read, both closed (FTP without QUIT: the same
           round trips but the server's banner). JSON: ok, failed, rate.
  hold     --host H --count N [--rate R] [--sources A,B] --release-file F --hold S
           N legacy UDP contacts to 407 (a socket and one HELLO datagram
           each, at most R a second), kept open; then, for each file
           F.flood-K that appears, K datagrams of an ignored opcode over the
           N flows round-robin (F.flood-K.done when sent); until F exists.
Every wait is bounded; errors go to stderr, one JSON line to stdout.
"""
import argparse
import json
import os
import socket
import struct
import sys
import threading
import time

# The frames are built by the kernel scenarios' attack tool, byte by byte
# from the wire model and independent of the code under test.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "kernel", "tools"))
import tbattack  # noqa: E402
from tbattack import CLASS_GUEST, CLASS_HOST, OP_HELLO, TCP, frame  # noqa: E402,F401

OP_IGNORED = 0x0077   # B6: any other opcode in a well-formed frame is ignored
SERVICE_PROBE = 0
SERVICE_CONTROL = 1
SERVICE_CHAT = 5


def log(*a):
    print("tbbench:", *a, file=sys.stderr, flush=True)


def hello_body(service, name=b"tbbench"):
    return tbattack.hello_body(service, name=name)


def hello_ack_body(service, name=b"tbbench-host"):
    return tbattack.hello_ack_body(service, name=name)


def offer_body(port, service=SERVICE_CHAT, transport=TCP):
    # address 0.0.0.0 = the contact's address
    return tbattack.offer_body(port, service=service, transport=transport)


def raise_fd_limit(want):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise ConnectionError("closed after %d of %d bytes" % (len(buf), n))
        buf += d
    return buf


def recv_frame(s):
    head = recv_exact(s, 6)
    n = (head[3] << 16) | (head[4] << 8) | head[5]
    if n > 65536:
        raise ValueError("frame of %d bytes" % n)
    return struct.unpack(">H", head[:2])[0], recv_exact(s, n)


def recv_line(s, limit=512):
    # The peers speak in turns (one line, then wait for the answer), so a
    # line is whatever arrives up to its newline: one recv in the usual case,
    # as a frame is two (header, body).
    buf = b""
    while not buf.endswith(b"\n"):
        d = s.recv(limit)
        if not d:
            raise ConnectionError("closed in a line")
        buf += d
        if len(buf) > limit:
            raise ValueError("line too long")
    return buf


# ---- host side ----------------------------------------------------------------------


def sink(c):
    total = 0
    while True:
        d = c.recv(1 << 20)
        if not d:
            break
        total += len(d)
    c.sendall(b"%d\n" % total)


def offered_listener(addr):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, 0))
    ls.listen(1)
    ls.settimeout(15)
    return ls


def serve_stream(ls):
    try:
        d, _ = ls.accept()
        d.settimeout(15)
        d.sendall(b"x")
        d.close()
    except OSError as e:
        log("offered stream not opened: %s" % e)
    finally:
        ls.close()


def tb_conn(c, addr):
    try:
        c.settimeout(60)
        cls, body = recv_frame(c)
        if cls != CLASS_GUEST or len(body) < 6 or struct.unpack(">H", body[:2])[0] != OP_HELLO:
            return
        service = body[4]
        if service in (1, 2, 3, 4):
            c.sendall(frame(CLASS_HOST, hello_ack_body(service)) + b"\x5a" * 64)
            c.settimeout(120)
            sink(c)
        elif service == SERVICE_CHAT:
            ls = offered_listener(addr)
            port = ls.getsockname()[1]
            c.sendall(frame(CLASS_HOST, hello_ack_body(service)) + frame(CLASS_HOST, offer_body(port)))
            serve_stream(ls)
            c.recv(64)   # until the guest closes the contact
        else:
            c.sendall(frame(CLASS_HOST, hello_ack_body(service)))
            c.settimeout(120)
            sink(c)
    except (OSError, ValueError) as e:
        log("tb contact: %s" % e)
    finally:
        c.close()


def ftp_conn(c, addr):
    try:
        c.settimeout(60)
        c.sendall(b"220 tbbench\r\n")
        while True:
            line = recv_line(c).strip().upper()
            if line == b"PASV":
                ls = offered_listener(addr)
                port = ls.getsockname()[1]
                c.sendall(b"227 Entering Passive Mode (%s,%d,%d).\r\n" %
                          (addr.replace(".", ",").encode(), port >> 8, port & 0xFF))
                serve_stream(ls)
            elif line == b"QUIT":
                c.sendall(b"221 bye\r\n")
                return
            else:
                c.sendall(b"500 ?\r\n")
    except ConnectionError:
        pass   # the client closed its contact
    except (OSError, ValueError) as e:
        log("ftp control: %s" % e)
    finally:
        c.close()


def cmd_serve(args):
    raise_fd_limit(65536)
    threads = []
    for port, handler in ((args.tb_port, tb_conn), (args.ftp_port, ftp_conn)):
        if not port:
            continue
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((args.listen, port))
        ls.listen(1024)

        def loop(ls=ls, handler=handler):
            while True:
                c, _ = ls.accept()
                threading.Thread(target=handler, args=(c, args.listen), daemon=True).start()
        t = threading.Thread(target=loop, daemon=True)
        t.start()
        threads.append(t)
    if args.udp_port:
        # Legacy UDP contacts (the held connections): read and discard, so
        # that the guest's connected sockets get no ICMP port unreachable.
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        u.bind((args.listen, args.udp_port))

        def drain(u=u):
            while True:
                u.recv(65536)
        threading.Thread(target=drain, daemon=True).start()
    log("serving on %s tcp %s (timbuktu) %s (ftp), udp %s (sink)" % (args.listen, args.tb_port, args.ftp_port, args.udp_port))
    time.sleep(args.timeout)


# ---- guest side -----------------------------------------------------------------------


def cmd_bulk(args):
    service = SERVICE_CONTROL if args.mode == "detached" else SERVICE_PROBE
    c = socket.create_connection((args.host, args.port), timeout=30)
    c.sendall(frame(CLASS_GUEST, hello_body(service)))
    cls, _ = recv_frame(c)
    if cls != CLASS_HOST:
        raise SystemExit("no HELLO-ACK")
    if service == SERVICE_CONTROL:
        recv_exact(c, 64)   # the service data: from here on the stream is unframed
        chunk = b"\0" * (256 * 1024)
    else:
        one = frame(CLASS_GUEST, struct.pack(">H", OP_IGNORED) + b"\0" * 32762)   # 32 KiB frames
        chunk = one * 8
    sent = 0
    t0 = time.monotonic()
    end = t0 + args.seconds
    while time.monotonic() < end:
        c.sendall(chunk)
        sent += len(chunk)
    c.shutdown(socket.SHUT_WR)
    c.settimeout(120)
    got = int(recv_line(c, 64).strip() or b"0")
    secs = time.monotonic() - t0
    c.close()
    out = {"mode": args.mode, "sent": sent, "bytes": got, "seconds": round(secs, 3),
           "mbit_s": round(got * 8 / secs / 1e6, 2)}
    print(json.dumps(out), flush=True)
    if got != sent:
        raise SystemExit("the sink counted %d of %d bytes" % (got, sent))


def one_session(proto, host, port):
    c = socket.create_connection((host, port), timeout=10)
    try:
        if proto == "tb":
            c.sendall(frame(CLASS_GUEST, hello_body(SERVICE_CHAT)))
            cls, _ = recv_frame(c)           # HELLO-ACK
            cls2, body = recv_frame(c)       # PORT-OFFER
            if cls != CLASS_HOST or cls2 != CLASS_HOST or len(body) != 12:
                raise ValueError("no HELLO-ACK and PORT-OFFER")
            dport = struct.unpack(">H", body[4:6])[0]
        else:
            recv_line(c)                     # 220
            c.sendall(b"PASV\r\n")
            line = recv_line(c).decode()
            nums = line[line.index("(") + 1:line.index(")")].split(",")
            dport = int(nums[4]) * 256 + int(nums[5])
        d = socket.create_connection((host, dport), timeout=10)
        try:
            if d.recv(1) != b"x":
                raise ValueError("no byte on the offered stream")
        finally:
            d.close()
        # Both sessions end the same way, the client closing its contact (an
        # FTP QUIT would cost FTP one more round trip than Timbuktu).
    finally:
        c.close()


def cmd_sessions(args):
    port = args.port or (407 if args.proto == "tb" else 21)
    lock = threading.Lock()
    res = {"ok": 0, "failed": 0, "errors": []}
    t0 = time.monotonic()
    end = t0 + args.seconds

    def worker():
        while time.monotonic() < end:
            try:
                one_session(args.proto, args.host, port)
                with lock:
                    res["ok"] += 1
            except (OSError, ValueError) as e:
                with lock:
                    res["failed"] += 1
                    if len(res["errors"]) < 3:
                        res["errors"].append(str(e)[:100])
    ts = [threading.Thread(target=worker) for _ in range(args.parallel)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    secs = time.monotonic() - t0
    res.update({"proto": args.proto, "parallel": args.parallel, "seconds": round(secs, 3),
                "rate": round(res["ok"] / secs, 2)})
    print(json.dumps(res), flush=True)


def cmd_hold(args):
    raise_fd_limit(args.count + 256)
    hello = frame(CLASS_GUEST, hello_body(SERVICE_CHAT))
    ignored = frame(CLASS_GUEST, struct.pack(">H", OP_IGNORED) + b"\0" * 30)
    socks = []
    failed = 0
    # One source address has at most ip_local_port_range's ports (64511 when
    # the driver widens it): the sockets take turns over --sources.
    sources = [a for a in (args.sources or "").split(",") if a]
    t0 = time.monotonic()
    for i in range(args.count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        try:
            if sources:
                s.bind((sources[i % len(sources)], 0))
            s.connect((args.host, args.port))
            s.send(hello)
        except OSError as e:
            failed += 1
            if failed <= 3:
                log("contact %d: %s" % (i, e))
            s.close()
            continue
        socks.append(s)
        due = t0 + (i + 1) / args.rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
    print(json.dumps({"held": len(socks), "failed": failed, "seconds": round(time.monotonic() - t0, 1)}), flush=True)
    until = time.monotonic() + args.hold
    base = args.release_file
    d = os.path.dirname(base) or "."
    while time.monotonic() < until and not os.path.exists(base):
        for name in os.listdir(d):
            p = os.path.join(d, name)
            pre = os.path.basename(base) + ".flood-"
            if name.startswith(pre) and not name.endswith(".done") and not os.path.exists(p + ".done"):
                k = int(name[len(pre):])
                sent = 0
                for j in range(k):
                    try:
                        socks[j % len(socks)].send(ignored)
                        sent += 1
                    except BlockingIOError:
                        time.sleep(0.001)
                    except OSError:
                        pass
                with open(p + ".done", "w") as f:
                    f.write("%d\n" % sent)
        time.sleep(0.1)
    for s in socks:
        s.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--listen", required=True)
    s.add_argument("--tb-port", type=int, default=407)
    s.add_argument("--ftp-port", type=int, default=21)
    s.add_argument("--udp-port", type=int, default=407)
    s.add_argument("--timeout", type=float, default=3600)
    b = sub.add_parser("bulk")
    b.add_argument("--host", required=True)
    b.add_argument("--port", type=int, default=407)
    b.add_argument("--mode", choices=("detached", "framed"), required=True)
    b.add_argument("--seconds", type=float, default=4)
    ss = sub.add_parser("sessions")
    ss.add_argument("--proto", choices=("tb", "ftp"), required=True)
    ss.add_argument("--host", required=True)
    ss.add_argument("--port", type=int, default=0)
    ss.add_argument("--seconds", type=float, default=5)
    ss.add_argument("--parallel", type=int, default=1)
    h = sub.add_parser("hold")
    h.add_argument("--host", required=True)
    h.add_argument("--port", type=int, default=407)
    h.add_argument("--count", type=int, required=True)
    h.add_argument("--rate", type=float, default=1000)
    h.add_argument("--sources", default="", help="comma-separated local addresses, in turn")
    h.add_argument("--release-file", required=True)
    h.add_argument("--hold", type=float, default=900)
    a = p.parse_args()
    {"serve": cmd_serve, "bulk": cmd_bulk, "sessions": cmd_sessions, "hold": cmd_hold}[a.cmd](a)


if __name__ == "__main__":
    main()
