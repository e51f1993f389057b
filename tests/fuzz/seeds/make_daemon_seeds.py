#!/usr/bin/env python3
"""Writes the seed corpora of the daemon's fuzz targets (fuzz_packet,
fuzz_ct_attrs, fuzz_queue_message): queued IP packets, NFQA_CT payloads and
whole NFQUEUE packet messages. Run from anywhere: the
files land next to this script."""
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))
HELLO = bytes([0, 1, 0, 0, 0, 0x20, 0, 0x23, 5, 2, 5, 1]) + bytes(4) + bytes(6) + b"\x05guest" + bytes(9)


def tcp(payload, seq=0x11223344, flags=0x18):
    return struct.pack(">HHIIBBHHH", 40000, 407, seq, 0, 5 << 4, flags, 65535, 0, 0) + payload


def udp(payload):
    return struct.pack(">HHHH", 40000, 407, 8 + len(payload), 0) + payload


def ipv4(proto, l4):
    return struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0,
                       bytes([198, 51, 100, 2]), bytes([203, 0, 113, 2])) + l4


def ipv6(next_header, rest):
    src = bytes.fromhex("20010db8000000000000000000000002")
    dst = bytes.fromhex("20010db8000100000000000000000002")
    return struct.pack(">IHBB", 6 << 28, len(rest), next_header, 64) + src + dst + rest


def ext(next_header, body6):  # hop-by-hop / destination options: 8 bytes
    return bytes([next_header, 0]) + body6


def ah(next_header):  # authentication header with a 4-byte ICV: (len+2)*4 = 16 bytes
    return bytes([next_header, 2, 0, 0]) + struct.pack(">II", 0x100, 1) + bytes(4)


def nla(type_, payload, nested=False):
    t = type_ | (0x8000 if nested else 0)
    raw = struct.pack("<HH", 4 + len(payload), t) + payload
    return raw + bytes((-len(raw)) % 4)


CTA_STATUS, CTA_HELP, CTA_ID = 3, 5, 12
CTA_HELP_NAME, CTA_HELP_INFO = 1, 3

seeds = {
    "fuzz_packet": {
        "v4-tcp-hello": ipv4(6, tcp(HELLO)),
        "v4-tcp-syn": ipv4(6, tcp(b"", flags=0x02)),
        "v4-udp-hello": ipv4(17, udp(HELLO)),
        "v6-tcp-hello": ipv6(6, tcp(HELLO)),
        "v6-hbh-ah-dst-udp": ipv6(0, ext(51, bytes(6)) + ah(60) + ext(17, bytes(6)) + udp(HELLO)),
        "v6-fragment": ipv6(44, bytes([17, 0, 0, 1]) + bytes(4) + udp(HELLO)),
    },
    "fuzz_ct_attrs": {
        "help-info": nla(CTA_STATUS, struct.pack(">I", 8)) +
        nla(CTA_HELP, nla(CTA_HELP_NAME, b"timbuktu\0") + nla(CTA_HELP_INFO, bytes([0x54, 1]) + bytes(30)), True) +
        nla(CTA_ID, struct.pack(">I", 7)) + struct.pack("<IIII", 2, 3, 0, 0) + struct.pack("<IIII", 3, 2, 0, 0),
        "help-name-only": nla(CTA_HELP, nla(CTA_HELP_NAME, b"timbuktu\0"), True) + struct.pack("<IIII", 2, 0, 0, 0) +
        struct.pack("<IIII", 0, 2, 0, 0),
        "help-detached": nla(CTA_HELP, nla(CTA_HELP_NAME, b"\0"), True) + struct.pack("<IIII", 10, 10, 11, 12) +
        struct.pack("<IIII", 10, 10, 12, 11),
    },
}

# Whole NFQNL_MSG_PACKET messages (linux/netfilter/nfnetlink_queue.h), as the
# kernel sends them on a queue bound with conntrack (and GSO).
NFQA_PACKET_HDR, NFQA_IFINDEX_INDEV, NFQA_IFINDEX_OUTDEV, NFQA_PAYLOAD, NFQA_CT, NFQA_CT_INFO = 1, 5, 6, 10, 11, 12
NFQA_CAP_LEN, NFQA_SKB_INFO = 13, 14
NFQA_SKB_CSUMNOTREADY, NFQA_SKB_GSO = 1, 2
CTA_TUPLE_ORIG, CTA_TUPLE_REPLY, CTA_TUPLE_IP, CTA_TUPLE_PROTO = 1, 2, 1, 2
CTA_IP_V4_SRC, CTA_IP_V4_DST, CTA_PROTO_NUM, CTA_PROTO_SRC_PORT, CTA_PROTO_DST_PORT = 1, 2, 1, 2, 3
IP_CT_ESTABLISHED, IP_CT_ESTABLISHED_REPLY = 0, 3


def be_nla(type_, payload, nested=False):  # netfilter attributes carry big-endian values
    return nla(type_, payload, nested)


def tuple_(src, dst, proto, sport, dport):
    ip = nla(CTA_IP_V4_SRC, bytes(src)) + nla(CTA_IP_V4_DST, bytes(dst))
    pr = nla(CTA_PROTO_NUM, bytes([proto])) + nla(CTA_PROTO_SRC_PORT, struct.pack(">H", sport)) + \
        nla(CTA_PROTO_DST_PORT, struct.pack(">H", dport))
    return nla(CTA_TUPLE_IP, ip, True) + nla(CTA_TUPLE_PROTO, pr, True)


G, H, D = [198, 51, 100, 2], [203, 0, 113, 2], [198, 51, 100, 1]


def ct_nest(proto, natted):
    orig = tuple_(G, D if natted else H, proto, 40000, 407)
    reply = tuple_(H, G, proto, 407, 40000)
    return nla(CTA_TUPLE_ORIG, orig, True) + nla(CTA_TUPLE_REPLY, reply, True) + \
        nla(CTA_STATUS, struct.pack(">I", 8 | (32 if natted else 0))) + nla(CTA_ID, struct.pack(">I", 7)) + \
        nla(CTA_HELP, nla(CTA_HELP_NAME, b"timbuktu\0"), True)


def queue_message(packet_id, packet, proto=6, natted=False, skb_info=None, ctinfo=IP_CT_ESTABLISHED, seq=1,
                  cap_len=None):
    attrs = nla(NFQA_PACKET_HDR, struct.pack(">IHB", packet_id, 0x0800, 3)) + \
        nla(NFQA_IFINDEX_INDEV, struct.pack(">I", 3)) + nla(NFQA_IFINDEX_OUTDEV, struct.pack(">I", 5)) + \
        nla(NFQA_CT, ct_nest(proto, natted), True) + nla(NFQA_CT_INFO, struct.pack(">I", ctinfo))
    if cap_len is not None:
        attrs += nla(NFQA_CAP_LEN, struct.pack(">I", cap_len))
    if skb_info is not None:
        attrs += nla(NFQA_SKB_INFO, struct.pack(">I", skb_info))
    attrs += nla(NFQA_PAYLOAD, packet)
    body = struct.pack("<BBH", 2, 0, struct.unpack("<H", struct.pack(">H", 407))[0]) + attrs  # nfgenmsg
    # NFNL_SUBSYS_QUEUE (3) << 8 | NFQNL_MSG_PACKET (0); seq picks the queue role in the target.
    return struct.pack("=IHHII", 16 + len(body), 3 << 8, 0, seq, 0) + body


BULK = bytes([0, 1, 0, 0x7f, 0xfa]) + bytes([0, 0x77]) + bytes(200)
seeds["fuzz_queue_message"] = {
    "tcp-hello-contact-gso": queue_message(1, ipv4(6, tcp(HELLO)), seq=1, skb_info=NFQA_SKB_GSO | NFQA_SKB_CSUMNOTREADY),
    "tcp-hello-then-segments-natted":
        queue_message(1, ipv4(6, tcp(HELLO)), natted=True, seq=1, skb_info=NFQA_SKB_CSUMNOTREADY) +
        queue_message(2, ipv4(6, tcp(HELLO)), natted=True, seq=2) +
        queue_message(3, ipv4(6, tcp(BULK, seq=0x11223344 + len(HELLO))), natted=True, seq=1),
    "udp-gso": queue_message(4, ipv4(17, udp(HELLO)), proto=17, seq=1, skb_info=NFQA_SKB_GSO),
    "cut-copy": queue_message(5, ipv4(6, tcp(HELLO)), seq=1, cap_len=70000),
    "no-gso-queue": queue_message(6, ipv4(6, tcp(HELLO)), seq=0),
}

for target, files in seeds.items():
    d = os.path.join(here, target)
    os.makedirs(d, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
