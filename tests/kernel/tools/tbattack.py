#!/usr/bin/env python3
"""tbattack: the hostile guest (and its accomplices on the host) of the kernel
scenarios 70-75 (docs/kernel-tests.md, "Attack scenarios").

The frames are built here byte by byte from the wire model (docs/protocol-model.md,
B1-B5: docs/protocol-model.md#b1 to #b5), not with the project's encoder: the attacks must not depend on the
code under test. Every subcommand prints one JSON object on stdout at the end
(what it did and saw); diagnostics go to stderr. Every wait is bounded.

  echo   --tcp-port P --udp-port P [--listen ADDR]  (host side) echo every byte back
  sink   --tcp-port P --udp-port P [--listen ADDR]  (host side) read and discard
  reflect --proto udp|tcp --host H --port 407 --offer-port P
         HELLO, then (after its echo) HELLO-ACK + PORT-OFFER of the guest's own;
         then try to connect to H:P
  spoof  --host V --port 407 --iface eth0 --fw-mac MAC --offer-port P [--go-file F]
         UDP HELLO to V, then an Ethernet frame from V's address carrying
         HELLO-ACK + PORT-OFFER (IPv4 or IPv6, after F exists); then connect to V:P
  hold   --host H --port 407 --count N --send BYTES
         N connections, each a HELLO header announcing a 65535-byte body, of which
         BYTES are sent; the frame never completes. Waits until every byte is
         acknowledged by the host (SIOCOUTQ 0), prints its JSON line, then holds
         every connection open until F (--release-file) exists or --hold seconds.
  flood  --host H --port 407 --datagrams N --segments M
         a valid HELLO, then N UDP datagrams of 65000 bytes and M TCP segments
         made of 8-byte malformed frames
  name   --host H --port 407 --name-hex HEX   a TCP HELLO whose guest name is HEX
  bulkhost  --listen ADDR --bytes N --offer-port P --address A   (host side)
         TCP 407, one contact at a time: HELLO in, HELLO-ACK (address A) out;
         N bytes of guest frames in; then, in one write, N bytes of frames of
         an opcode the model ignores (B6) and a PORT-OFFER of TCP P (address
         A), which is accepted once and answers "ok"
  bulkguest --host H --bytes N   the other side: HELLO, N bytes of ignored
         frames, reads up to the offer, opens the offered stream
"""
import argparse
import fcntl
import json
import os
import select
import socket
import struct
import sys
import termios
import threading
import time

CLASS_GUEST = 0x0001
CLASS_HOST = 0x0101
OP_HELLO = 0x0023
OP_OFFER = 0x0031
SERVICE_INTERCOM = 7
SERVICE_CHAT = 5
TCP = 6


def log(*a):
    print("tbattack:", *a, file=sys.stderr, flush=True)


def frame(cls, body, flags=0):
    n = len(body)
    return struct.pack(">HB", cls, flags) + bytes([(n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF]) + body


def hello_body(service=SERVICE_INTERCOM, addr=b"\0\0\0\0", name=b"tbattack"):
    # B3: opcode, version 5.2, service, flags (bit 0: TCP contact), address, 6 opaque, name
    return struct.pack(">HBBBB", OP_HELLO, 5, 2, service, 0x01) + addr + bytes(6) + bytes([len(name)]) + name


def hello_ack_body(service=SERVICE_INTERCOM, addr=b"\0\0\0\0", name=b"forged-host"):
    # B4: opcode, version, service, flags, host address, 28 opaque, name at 38
    return struct.pack(">HBBBB", OP_HELLO, 5, 2, service, 0x01) + addr + bytes(28) + bytes([len(name)]) + name


def offer_body(port, service=SERVICE_INTERCOM, transport=TCP, addr=b"\0\0\0\0", lifetime=0):
    # B5: exactly 12 bytes
    return struct.pack(">HBBH", OP_OFFER, service, transport, port) + addr + struct.pack(">H", lifetime)


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def try_connect(host, port, timeout):
    """True when a TCP connection to host:port is established (and echoes)."""
    s = socket.socket(family_of(host), socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        s.sendall(b"probe\n")
        data = s.recv(64)
        return True, "connected, %d bytes back" % len(data)
    except OSError as e:
        return False, str(e) or type(e).__name__
    finally:
        s.close()


def recv_some(sock, timeout):
    r, _, _ = select.select([sock], [], [], timeout)
    if not r:
        return b""
    try:
        return sock.recv(65536)
    except OSError:
        return b""


# ---- host side --------------------------------------------------------------------


def raise_fd_limit(want):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))


def serve(args, echo):
    raise_fd_limit(8192)
    fam = family_of(args.listen)
    socks = []
    if args.udp_port:
        u = socket.socket(fam, socket.SOCK_DGRAM)
        if fam == socket.AF_INET6:
            u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        u.bind((args.listen, args.udp_port))
        socks.append(u)
    if args.tcp_port:
        t = socket.socket(fam, socket.SOCK_STREAM)
        if fam == socket.AF_INET6:
            t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((args.listen, args.tcp_port))
        t.listen(4096)
        t.setblocking(False)
        socks.append(t)
    conns = {}
    stats = {"udp_datagrams": 0, "tcp_connections": 0, "bytes": 0}
    poll = select.epoll()
    for s in socks:
        poll.register(s.fileno(), select.EPOLLIN)
    byfd = {s.fileno(): s for s in socks}
    log("%s listening on %s tcp %s udp %s" % ("echo" if echo else "sink", args.listen, args.tcp_port, args.udp_port))
    end = time.time() + args.timeout
    while time.time() < end:
        for fd, _ in poll.poll(1.0):
            s = byfd.get(fd) or conns.get(fd)
            if s is None:
                continue
            if s.type == socket.SOCK_DGRAM:
                data, peer = s.recvfrom(65536)
                stats["udp_datagrams"] += 1
                stats["bytes"] += len(data)
                if echo:
                    s.sendto(data, peer)
            elif fd in byfd:
                while True:
                    try:
                        c, _ = s.accept()
                    except BlockingIOError:
                        break
                    c.setblocking(False)
                    conns[c.fileno()] = c
                    poll.register(c.fileno(), select.EPOLLIN)
                    stats["tcp_connections"] += 1
            else:
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    poll.unregister(fd)
                    del conns[fd]
                    s.close()
                    continue
                stats["bytes"] += len(data)
                if echo:
                    try:
                        s.sendall(data)
                    except OSError:
                        pass
    print(json.dumps(stats), flush=True)


# ---- reflected offers -----------------------------------------------------------------


def cmd_reflect(args):
    out = {"proto": args.proto, "offer_port": args.offer_port}
    fam = family_of(args.host)
    hello = frame(CLASS_GUEST, hello_body())
    second = frame(CLASS_HOST, hello_ack_body()) + frame(CLASS_HOST, offer_body(args.offer_port))
    if args.proto == "udp":
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.connect((args.host, args.port))
        s.send(hello)
        out["hello_echoed"] = recv_some(s, args.timeout) == hello
        s.send(second)
        out["offer_echoed"] = recv_some(s, args.timeout) == second
    else:
        s = socket.create_connection((args.host, args.port), timeout=args.timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(hello)
        got = b""
        end = time.time() + args.timeout
        while len(got) < len(hello) and time.time() < end:
            d = recv_some(s, end - time.time())
            if not d:
                break
            got += d
        out["hello_echoed"] = got == hello
        s.sendall(second)
        got = b""
        end = time.time() + args.timeout
        while len(got) < len(second) and time.time() < end:
            d = recv_some(s, end - time.time())
            if not d:
                break
            got += d
        out["offer_echoed"] = got == second
    log("reflected: hello echoed %s, HELLO-ACK + PORT-OFFER echoed %s" % (out["hello_echoed"], out["offer_echoed"]))
    # The daemon works on the echoed packets in the firewall before they reach us:
    # by now any expectation it was going to create exists.
    ok, why = try_connect(args.host, args.offer_port, args.connect_timeout)
    out["offered_port_open"] = ok
    out["connect"] = why
    log("connect to offered port %d: %s" % (args.offer_port, why))
    s.close()
    print(json.dumps(out), flush=True)


# ---- spoofed host reply at layer 2 --------------------------------------------------------


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def mac_bytes(text):
    return bytes(int(x, 16) for x in text.split(":"))


def spoofed_frame(src_mac, dst_mac, src_ip, dst_ip, sport, dport, payload):
    udp_len = 8 + len(payload)
    if ":" in src_ip:
        s6 = socket.inet_pton(socket.AF_INET6, src_ip)
        d6 = socket.inet_pton(socket.AF_INET6, dst_ip)
        pseudo = s6 + d6 + struct.pack("!IxxxB", udp_len, 17)
        udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
        c = csum(pseudo + udp) or 0xFFFF
        udp = struct.pack("!HHHH", sport, dport, udp_len, c) + payload
        ip = struct.pack("!IHBB", 6 << 28, udp_len, 17, 64) + s6 + d6
        ethertype = 0x86DD
    else:
        s4 = socket.inet_aton(src_ip)
        d4 = socket.inet_aton(dst_ip)
        pseudo = s4 + d4 + struct.pack("!xBH", 17, udp_len)
        udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
        c = csum(pseudo + udp) or 0xFFFF
        udp = struct.pack("!HHHH", sport, dport, udp_len, c) + payload
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0x1234, 0, 64, 17, 0, s4, d4)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0x1234, 0, 64, 17, csum(hdr), s4, d4)
        ethertype = 0x0800
    return dst_mac + src_mac + struct.pack("!H", ethertype) + ip + udp


def cmd_spoof(args):
    fam = family_of(args.host)
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.connect((args.host, args.port))
    local_ip, local_port = s.getsockname()[:2]
    s.send(frame(CLASS_GUEST, hello_body()))
    log("HELLO sent %s:%d -> %s:%d" % (local_ip, local_port, args.host, args.port))
    out = {"family": 6 if fam == socket.AF_INET6 else 4, "guest": local_ip, "sport": local_port,
           "victim": args.host, "offer_port": args.offer_port}
    if args.go_file:
        end = time.time() + 30
        while not os.path.exists(args.go_file) and time.time() < end:
            time.sleep(0.1)
    own_mac = open("/sys/class/net/%s/address" % args.iface).read().strip()
    payload = frame(CLASS_HOST, hello_ack_body()) + frame(CLASS_HOST, offer_body(args.offer_port))
    pkt = spoofed_frame(mac_bytes(own_mac), mac_bytes(args.fw_mac), args.host, local_ip, args.port, local_port,
                        payload)
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    raw.bind((args.iface, 0))
    for _ in range(args.repeat):
        raw.send(pkt)
        time.sleep(0.2)
    log("spoofed %d-byte frame (source %s:%d, HELLO-ACK + PORT-OFFER tcp/%d) sent %d time(s) to %s on %s" %
        (len(pkt), args.host, args.port, args.offer_port, args.repeat, args.fw_mac, args.iface))
    # The firewall forwards the spoofed reply back to us: proof that conntrack
    # took it as the reply direction of our flow.
    d = recv_some(s, args.timeout)
    out["spoof_forwarded_to_guest"] = d == payload
    ok, why = try_connect(args.host, args.offer_port, args.connect_timeout)
    out["offered_port_open"] = ok
    out["connect"] = why
    log("spoofed reply came back through the firewall: %s; connect to %s port %d: %s" %
        (out["spoof_forwarded_to_guest"], args.host, args.offer_port, why))
    print(json.dumps(out), flush=True)


# ---- frames that never complete ------------------------------------------------------------


def cmd_hold(args):
    raise_fd_limit(args.count + 64)
    fam = family_of(args.host)
    # HELLO header announcing a 65535-byte body; the body starts as a valid
    # HELLO (opcode, versions, service, flags, address, opaque, name) and goes
    # on with opaque bytes that never reach the announced end.
    announced = 65535
    head = struct.pack(">HB", CLASS_GUEST, 0) + bytes([(announced >> 16) & 0xFF, (announced >> 8) & 0xFF,
                                                      announced & 0xFF]) + hello_body(service=SERVICE_CHAT)
    payload = (head + b"\xa5" * args.send)[:6 + min(args.send, announced - 1)]
    socks = []
    t0 = time.time()
    end = t0 + args.timeout
    # Paced: at most --window connections have unacknowledged bytes at any
    # time (SIOCOUTQ), at most --chunk bytes each. The firewall's queue must
    # never overflow: past its length the kernel passes packets unseen (fail
    # open) and the daemon would never hold what it is sent.
    conns = []  # [sock, bytes sent, state: "connecting" | "open" | "done" | "failed"]
    for i in range(args.count):
        c = socket.socket(fam, socket.SOCK_STREAM)
        c.setblocking(False)
        try:
            c.connect((args.host, args.port))
        except BlockingIOError:
            pass
        except OSError:
            pass
        socks.append(c)
        conns.append([c, 0, "open"])
        if i % args.window == args.window - 1:
            time.sleep(0.05)

    def outq(c):
        try:
            return struct.unpack("i", fcntl.ioctl(c.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
        except OSError:
            return 0

    busy = []
    nxt = 0
    failed = 0
    while time.time() < end:
        busy = [st for st in busy if st[2] == "open" and outq(st[0]) > 0]
        progressed = False
        todo = [st for st in conns if st[2] == "open" and st[1] < len(payload)]
        if not todo and not busy:
            break
        scanned = 0
        while len(busy) < args.window and todo and scanned < len(conns):
            st = conns[nxt % len(conns)]
            nxt += 1
            scanned += 1
            if st[2] != "open" or st[1] >= len(payload) or st in busy:
                continue
            try:
                n = st[0].send(payload[st[1]:st[1] + args.chunk])
            except BlockingIOError:
                continue
            except OSError:
                st[2] = "failed"
                failed += 1
                continue
            st[1] += n
            busy.append(st)
            progressed = True
        if not progressed:
            time.sleep(0.02)
    pending = [st for st in conns if st[2] == "open" and st[1] < len(payload)]
    written = time.time()
    # Every byte acknowledged by the host: it has crossed the firewall, so the
    # daemon has seen (and given its verdict on) all of it.
    unacked = -1
    while time.time() < end:
        unacked = sum(outq(st[0]) for st in conns if st[2] == "open")
        if unacked == 0:
            break
        time.sleep(0.3)
    out = {"connections": args.count, "failed": failed, "unfinished": len(pending), "bytes_per_connection":
           len(payload), "announced_body": announced, "unacked_bytes": unacked,
           "seconds_to_write": round(written - t0, 1), "seconds_to_ack": round(time.time() - t0, 1)}
    print(json.dumps(out), flush=True)
    log("%d connections hold %d bytes each of a frame announcing %d (failed %d, unacked %d); holding" %
        (args.count, len(payload), 6 + announced, failed, unacked))
    # Hold every connection open until the scenario creates the release file.
    until = time.time() + args.hold
    while time.time() < until and not (args.release_file and os.path.exists(args.release_file)):
        time.sleep(0.2)
    for c in socks:
        c.close()


# ---- malformed flood ---------------------------------------------------------------------


def cmd_flood(args):
    fam = family_of(args.host)
    # 8-byte guest frames whose 2-byte body is a HELLO cut short (B3 wants at
    # least 16 bytes): the framing stays intact, and each one is a malformed
    # frame of its own on a flow that began with a valid HELLO.
    bad = frame(CLASS_GUEST, struct.pack(">H", OP_HELLO))
    out = {}
    u = socket.socket(fam, socket.SOCK_DGRAM)
    u.connect((args.host, args.port))
    u.send(frame(CLASS_GUEST, hello_body(service=5)))
    time.sleep(0.3)
    dgram = bad * (65000 // len(bad))
    for _ in range(args.datagrams):
        u.send(dgram)
        time.sleep(0.05)
    out["udp_datagrams"] = args.datagrams
    out["udp_frames"] = args.datagrams * (65000 // len(bad))
    t = socket.create_connection((args.host, args.port), timeout=10)
    t.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t.sendall(frame(CLASS_GUEST, hello_body(service=5)))
    time.sleep(0.3)
    seg = bad * (1448 // len(bad))
    sent = 0
    for _ in range(args.segments):
        try:
            t.sendall(seg)
            sent += 1
        except OSError as e:
            log("TCP segment %d: %s" % (sent, e))
            break
        time.sleep(0.01)
    out["tcp_segments"] = sent
    out["tcp_frames"] = sent * (1448 // len(bad))
    time.sleep(0.5)
    t.close()
    u.close()
    log("flood: %d datagrams (%d frames), %d TCP segments (%d frames)" %
        (out["udp_datagrams"], out["udp_frames"], out["tcp_segments"], out["tcp_frames"]))
    print(json.dumps(out), flush=True)


# ---- a name with control bytes ------------------------------------------------------------


def cmd_name(args):
    name = bytes.fromhex(args.name_hex)
    s = socket.create_connection((args.host, args.port), timeout=args.timeout)
    s.sendall(frame(CLASS_GUEST, hello_body(service=SERVICE_CHAT, name=name)))
    got = b""
    end = time.time() + args.timeout
    while len(got) < 6 and time.time() < end:
        d = recv_some(s, end - time.time())
        if not d:
            break
        got += d
    out = {"name_hex": name.hex(), "answer_class": got[:2].hex()}
    log("HELLO with a %d-byte name sent; answer class %s" % (len(name), out["answer_class"] or "none"))
    s.close()
    print(json.dumps(out), flush=True)


# ---- framed bulk with an offer at its end (GSO, scenario 76) -------------------------

OP_IGNORED = 0x0077   # B6: any other opcode in a well-formed frame is ignored
BULK_FRAME_BODY = 32768


def ignored_frames(cls, total):
    """Frames of an ignored opcode, `total` bytes in all (headers included)."""
    out = bytearray()
    while len(out) < total:
        body_len = min(BULK_FRAME_BODY, max(2, total - len(out) - 6))
        out += frame(cls, struct.pack(">H", OP_IGNORED) + bytes(body_len - 2))
    return bytes(out)


def recv_exact(sock, n, deadline):
    buf = bytearray()
    while len(buf) < n:
        sock.settimeout(max(0.1, deadline - time.time()))
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise OSError("closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)


def recv_frame(sock, deadline):
    head = recv_exact(sock, 6, deadline)
    n = (head[3] << 16) | (head[4] << 8) | head[5]
    return struct.unpack(">H", head[:2])[0], recv_exact(sock, n, deadline)


def cmd_bulkhost(args):
    addr = socket.inet_aton(args.address)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.listen, args.port))
    ls.listen(16)
    offered = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    offered.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    offered.bind((args.listen, args.offer_port))
    offered.listen(16)
    log("bulkhost on %s:%d, offers TCP %d with address %s" % (args.listen, args.port, args.offer_port, args.address))
    stats = {"contacts": 0, "received": 0, "streams": 0, "errors": 0}
    end = time.time() + args.timeout
    ls.settimeout(1.0)
    while time.time() < end:
        try:
            c, peer = ls.accept()
        except socket.timeout:
            continue
        stats["contacts"] += 1
        deadline = time.time() + 60
        try:
            cls, body = recv_frame(c, deadline)
            if cls != CLASS_GUEST or body[:2] != struct.pack(">H", OP_HELLO):
                raise OSError("first frame is not a HELLO")
            c.sendall(frame(CLASS_HOST, hello_ack_body(service=body[4], addr=addr, name=b"bulkhost")))
            stats["received"] += len(recv_exact(c, args.bytes, deadline))
            c.sendall(ignored_frames(CLASS_HOST, args.bytes) +
                      frame(CLASS_HOST, offer_body(args.offer_port, service=body[4], addr=addr)))
            offered.settimeout(max(0.1, deadline - time.time()))
            o, _ = offered.accept()
            o.sendall(b"ok\n")
            o.close()
            stats["streams"] += 1
        except OSError as e:
            log("contact from %s: %s" % (peer, e))
            stats["errors"] += 1
        finally:
            c.close()
        print(json.dumps(stats), flush=True)


def cmd_bulkguest(args):
    out = {"sent": 0, "received": 0, "ack_address": "", "offer_address": "", "offer_port": 0,
           "stream_ok": False, "stream_detail": ""}
    deadline = time.time() + args.timeout
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(args.timeout)
        s.connect((args.host, args.port))
        s.sendall(frame(CLASS_GUEST, hello_body(service=SERVICE_INTERCOM, name=b"bulkguest")))
        cls, body = recv_frame(s, deadline)
        out["ack_address"] = socket.inet_ntoa(body[6:10])
        data = ignored_frames(CLASS_GUEST, args.bytes)
        s.sendall(data)
        out["sent"] = len(data)
        while True:
            cls, body = recv_frame(s, deadline)
            out["received"] += 6 + len(body)
            if body[:2] == struct.pack(">H", OP_OFFER):
                out["offer_port"] = struct.unpack(">H", body[4:6])[0]
                out["offer_address"] = socket.inet_ntoa(body[6:10])
                break
        target = out["offer_address"] if out["offer_address"] != "0.0.0.0" else args.host
        o = socket.create_connection((target, out["offer_port"]), timeout=args.connect_timeout)
        o.settimeout(args.connect_timeout)
        got = o.recv(16)
        o.close()
        out["stream_ok"] = got == b"ok\n"
        out["stream_detail"] = "connected to %s:%d, read %r" % (target, out["offer_port"], got)
    except OSError as e:
        out["stream_detail"] = str(e) or type(e).__name__
        log("bulkguest:", out["stream_detail"])
    finally:
        s.close()
    log("sent %d bytes, received %d before the offer" % (out["sent"], out["received"]))
    print(json.dumps(out), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("echo", "sink"):
        a = sub.add_parser(name)
        a.add_argument("--listen", default="::")
        a.add_argument("--tcp-port", type=int, default=0)
        a.add_argument("--udp-port", type=int, default=0)
        a.add_argument("--timeout", type=float, default=300)
    a = sub.add_parser("reflect")
    a.add_argument("--proto", choices=("udp", "tcp"), required=True)
    a.add_argument("--host", required=True)
    a.add_argument("--port", type=int, default=407)
    a.add_argument("--offer-port", type=int, required=True)
    a.add_argument("--timeout", type=float, default=10)
    a.add_argument("--connect-timeout", type=float, default=5)
    a = sub.add_parser("spoof")
    a.add_argument("--host", required=True, help="the victim V (inside host)")
    a.add_argument("--port", type=int, default=407)
    a.add_argument("--iface", default="eth0")
    a.add_argument("--fw-mac", required=True)
    a.add_argument("--offer-port", type=int, required=True)
    a.add_argument("--go-file", default="")
    a.add_argument("--repeat", type=int, default=2)
    a.add_argument("--timeout", type=float, default=5)
    a.add_argument("--connect-timeout", type=float, default=5)
    a = sub.add_parser("hold")
    a.add_argument("--host", required=True)
    a.add_argument("--port", type=int, default=407)
    a.add_argument("--count", type=int, default=1000)
    a.add_argument("--send", type=int, default=65000, help="body bytes sent of the announced 65535")
    a.add_argument("--window", type=int, default=32, help="connections with unacknowledged bytes at a time")
    a.add_argument("--chunk", type=int, default=16384, help="bytes sent at a time on one connection")
    a.add_argument("--timeout", type=float, default=60)
    a.add_argument("--release-file", default="")
    a.add_argument("--hold", type=float, default=120)
    a = sub.add_parser("flood")
    a.add_argument("--host", required=True)
    a.add_argument("--port", type=int, default=407)
    a.add_argument("--datagrams", type=int, default=10)
    a.add_argument("--segments", type=int, default=50)
    a = sub.add_parser("name")
    a.add_argument("--host", required=True)
    a.add_argument("--port", type=int, default=407)
    a.add_argument("--name-hex", required=True)
    a.add_argument("--timeout", type=float, default=10)
    a = sub.add_parser("bulkhost")
    a.add_argument("--listen", default="0.0.0.0")
    a.add_argument("--port", "--tcp-port", dest="port", type=int, default=407)
    a.add_argument("--bytes", type=int, default=1 << 20)
    a.add_argument("--offer-port", type=int, required=True)
    a.add_argument("--address", default="0.0.0.0", help="the IPv4 address embedded in HELLO-ACK and PORT-OFFER")
    a.add_argument("--timeout", type=float, default=300)
    a = sub.add_parser("bulkguest")
    a.add_argument("--host", required=True)
    a.add_argument("--port", type=int, default=407)
    a.add_argument("--bytes", type=int, default=1 << 20)
    a.add_argument("--timeout", type=float, default=60)
    a.add_argument("--connect-timeout", type=float, default=5)
    args = p.parse_args()
    if args.cmd in ("echo", "sink"):
        serve(args, args.cmd == "echo")
    else:
        globals()["cmd_" + args.cmd](args)


if __name__ == "__main__":
    main()
