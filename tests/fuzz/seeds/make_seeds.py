#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz (small binary files). Run from anywhere:
the files land next to this script. Frames follow docs/protocol-model.md#model."""
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))
GUEST, HOST = 0x0001, 0x0101


def frame(cls, body, flags=0):
    return struct.pack(">HB", cls, flags) + len(body).to_bytes(3, "big") + body


def hello(service, addr=0, name=b"guest"):
    return frame(GUEST, struct.pack(">HBBBBI", 0x23, 5, 2, service, 1, addr) + bytes(6) + bytes([len(name)]) + name)


def hello_ack(service, addr=0, name=b"host"):
    return frame(HOST, struct.pack(">HBBBBI", 0x23, 5, 2, service, 1, addr) + bytes(28) + bytes([len(name)]) + name)


def offer(service, transport, port, addr=0, lifetime=0, cls=HOST):
    return frame(cls, struct.pack(">HBBHIH", 0x31, service, transport, port, addr, lifetime))


PROBE = bytes([0, 1, 0, 0, 0, 0x10, 0, 0x23]) + bytes(14)
EXPLOIT = frame(GUEST, struct.pack(">HBBBB", 0x23, 1, 0, 3, 0) + bytes(10) + bytes([0x20]) + b"A" * (0xB0 - 17), 0x6B)
G, GT, H, D = 0xC0A8010A, 0xC633644D, 0x0A000005, 0xCB007102


def chunk(control, payload=b""):
    out = b""
    while True:  # chunks carry at most 255 bytes; longer payloads go as several in-order segments
        out += bytes([control, min(len(payload), 255)]) + payload[:255]
        payload = payload[255:]
        if not payload:
            return out


def chunk_at(control, seq, payload):
    """A chunk with an explicit sequence number (control bits 3-4 = 3)."""
    return bytes([control | 0x18, len(payload)]) + struct.pack(">I", seq) + payload


def syns():
    return chunk(0x02) + chunk(0x03)


def write(target, name, data):
    d = os.path.join(here, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# fuzz_stream: [config][chunks]; control bit 0 = host side, bit 1 = SYN, bit 2 = restart.
write("fuzz_stream", "tcp-intercom", bytes([0x20]) + syns() + chunk(0, hello(7)) +
      chunk(1, hello_ack(7) + offer(7, 17, 40001, 0, 30) + offer(9, 6, 5000)))
write("fuzz_stream", "tcp-probe", bytes([0]) + syns() + chunk(0, PROBE) + chunk(1, hello_ack(0)))
write("fuzz_stream", "tcp-exploit-send-files", bytes([0]) + syns() + chunk(0, EXPLOIT) + chunk(1, hello_ack(3) + b"\xff\xfb"))
write("fuzz_stream", "udp-legacy", bytes([0x21]) + chunk(0, hello(1)) + chunk(1, hello_ack(1) + offer(1, 6, 1417)) +
      chunk(1, offer(10, 6, 30000, 0, 20)))
ack = hello_ack(7, H)
write("fuzz_stream", "tcp-dnat-split", bytes([0x04]) + syns() + chunk(0, hello(7)) + chunk(1, ack[:14]) +
      chunk(1, ack[14:] + offer(7, 17, 40001, H)[:9]) + chunk(1, offer(7, 17, 40001, H)[9:]))
# Host data starts at 0xFFFFFF01 (the fuzzer's host ISN 0xFFFFFF00 + SYN); send the ACK, then again.
write("fuzz_stream", "tcp-dnat-retransmit", bytes([0x04]) + syns() + chunk(0, hello(7)) + chunk(1, ack + offer(7, 17, 40001, H)) +
      chunk_at(1, 0xFFFFFF01, ack + offer(7, 17, 40001, H)) + chunk_at(1, 0xFFFFFF01 + 10, ack[10:]))
write("fuzz_stream", "tcp-snat-hello", bytes([0x02]) + syns() + chunk(0, hello(7, G)) + chunk(1, hello_ack(7)))
off = offer(7, 17, 40001)
write("fuzz_stream", "tcp-restart-mid-frame", bytes([0]) + syns() + chunk(0, hello(7)) + chunk(1, hello_ack(7)) +
      chunk(1, off[:5]) + chunk(1 | 4, off[5:]))
write("fuzz_stream", "tcp-forged", bytes([0]) + syns() + chunk(0, hello(7)) + chunk(1, hello_ack(7)) +
      chunk(0, offer(7, 17, 40001, 0, 0, GUEST)))

# B10: echoes of the guest's frames in the reply direction, over UDP and TCP.
answer = hello_ack(7) + offer(7, 17, 40001)
write("fuzz_stream", "udp-echo-hostile", bytes([0x01]) + chunk(0, hello(7)) + chunk(1, hello(7)) +
      chunk(0, answer) + chunk(1, answer))
write("fuzz_stream", "tcp-echo-hostile", bytes([0]) + syns() + chunk(0, hello(7)) + chunk(1, hello(7)) +
      chunk(0, answer) + chunk(1, answer))
# B9: A9's probe and reply; A10's foreign probe, a restart, and the 00 23 D1 1F reply.
A9 = bytes([0x00, 0x25, 0x00, 0x22, 0xFF, 0x01, 0x00, 0x64, 0x03, 0x07, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00])
write("fuzz_stream", "udp-a9-unmodelled", bytes([0x01]) + chunk(0, A9) + chunk(1, bytes([0x00, 0x25, 0xD0, 0xB9]) + bytes(8)))
RPC = bytes([0x72, 0xFE, 0x1D, 0x13]) + bytes(7) + bytes([2, 0, 1, 0x86, 0xA0, 0, 0, 0, 2]) + bytes(20)
write("fuzz_stream", "udp-a10-unmodelled", bytes([0x01]) + chunk(0, RPC) + chunk(1 | 4, bytes([0x00, 0x23, 0xD1, 0x1F]) + bytes(8)))
# A11 under masquerade: G in both copies (6-9 and 160-163), split across three segments.
body = struct.pack(">HBBBBI", 0x23, 7, 0x22, 3, 7, G) + bytes(70) + bytes([0x01, 0x97]) + bytes(78) + struct.pack(">I", G) + bytes(12)
A11 = bytes([0x00, 0x01, 0x6B, 0x00, 0x00, 0xB0]) + body
assert len(body) == 176
write("fuzz_stream", "tcp-a11-snat-split", bytes([0x02]) + syns() + chunk(0, A11[:100]) + chunk(0, A11[100:170]) +
      chunk(0, A11[170:]) + chunk_at(0, 0x10000001 + 100, A11[100:170]) + chunk(1, hello_ack(3)))
write("fuzz_stream", "udp-a11-snat", bytes([0x03]) + chunk(0, A11) + chunk(1, hello_ack(3)))
# Frames that never complete, on both sides; data held beyond gaps until the budget drops it.
big = bytes([0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0x00, 0x60]) + bytes(240)
write("fuzz_stream", "tcp-unfinished-frame", bytes([0]) + syns() + chunk(0, hello(7)) + chunk(1, hello_ack(7)) +
      chunk(1, big) + chunk(1, bytes(250)) + chunk(1, bytes(250)) +
      chunk(0, bytes([0x00, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0x00, 0x23]) + bytes(200)))
write("fuzz_stream", "tcp-held-drop", bytes([0]) + syns() + chunk(0, hello(7)) +
      b"".join(bytes([1 | 0x10 | (k << 5), 250]) + bytes(250) for k in range(7)) + chunk(1, hello_ack(7)))
flood = frame(HOST, bytes([0x00, 0x31])) * 31
write("fuzz_stream", "udp-malformed-flood", bytes([0x01]) + chunk(0, hello(7)) + chunk(1, hello_ack(7)) +
      chunk(1, flood) + chunk(1, flood))

# fuzz_frames: raw bytes (a datagram, or a bare body).
write("fuzz_frames", "a11-exploit", A11)
write("fuzz_frames", "a9-probe", A9)
write("fuzz_frames", "probe", PROBE)
write("fuzz_frames", "hello", hello(7, G))
write("fuzz_frames", "exploit", EXPLOIT)
write("fuzz_frames", "ack-offers", hello_ack(1, H) + offer(1, 6, 1417) + offer(7, 17, 40001, H, 30))
write("fuzz_frames", "offer-body", offer(7, 17, 40001)[6:])
write("fuzz_frames", "hello-ack-body", hello_ack(2)[6:])
