#!/usr/bin/env python3
"""Writes the seed corpora of the daemon's fuzz targets (fuzz_packet,
fuzz_ct_attrs): queued IP packets and NFQA_CT payloads. Run from anywhere: the
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

for target, files in seeds.items():
    d = os.path.join(here, target)
    os.makedirs(d, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
