#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# Writes the seed corpus of tests/fuzz/fuzz-netlink.c (committed in tests/fuzz/corpus/netlink;
# run again only when the protocol changes): well-formed replies of the module as the daemon
# receives them, in the fuzzer's input format (a request byte, then u16-length datagrams).
# usage: tests/fuzz/netlink-seeds.py DIR
import os
import struct
import sys

FAMILY = 0x20
NLMSG_ERROR, NLMSG_DONE = 2, 3
F_MULTI, F_DUMP_INTR, F_CAPPED, F_ACK_TLVS = 0x2, 0x10, 0x100, 0x200
(A_VERSION, A_ABI, A_LOAD, A_PAD, A_BOOT, A_HB, A_EVSEQ, A_UGEN, A_IGEN, A_PROBES, A_PFAIL,
 A_UENT, A_UCAP, A_UOVF, A_ICNT, A_HBMS, A_CG, A_CPU, A_EXECS, A_FORKS, A_EXITS, A_BUS,
 A_VEN, A_DEV, A_SVEN, A_SDEV, A_CLASS, A_NUMA, A_ETYPE, A_ESEQ, A_ETIME, A_PNAME, A_PVAL,
 A_PRNAME, A_PRERR, A_RECL, A_RAFTER) = range(1, 38)


def attr(t, payload):
    a = struct.pack("<HH", 4 + len(payload), t) + payload
    return a + b"\0" * (-len(a) % 4)


def s(t, v):
    return attr(t, v.encode() + b"\0")


def u16(t, v):
    return attr(t, struct.pack("<H", v))


def u32(t, v):
    return attr(t, struct.pack("<I", v & 0xFFFFFFFF))


def u64(t, v):
    return attr(t, struct.pack("<Q", v))


def msg(typ, flags, payload, seq=1):
    return struct.pack("<IHHII", 16 + len(payload), typ, flags, seq, 0) + payload


def genl(cmd, attrs, flags=0):
    return msg(FAMILY, flags, struct.pack("<BBH", cmd, 1, 0) + b"".join(attrs))


def done(err=0, flags=F_MULTI):
    return msg(NLMSG_DONE, flags, struct.pack("<i", err))


def error(err, flags=0, tlvs=b""):
    return msg(NLMSG_ERROR, flags, struct.pack("<i", err) + msg(FAMILY, 0, b"")[:16] + tlvs)


def seed(op, *dgrams, raw_seq=False):
    out = bytes([op | (0x80 if raw_seq else 0)])
    for d in dgrams:
        out += struct.pack("<H", len(d)) + d
    return out


INFO = [s(A_VERSION, "0.1.0"), u32(A_ABI, 1), u64(A_LOAD, 1 << 60), s(A_BOOT, "b" * 36),
        u64(A_HB, 7), u64(A_EVSEQ, 9), u64(A_UGEN, 3), u64(A_IGEN, 1), u32(A_PROBES, 0x1f),
        u32(A_PFAIL, 0), u32(A_UENT, 4), u32(A_UCAP, 4096), u64(A_UOVF, 0), u32(A_ICNT, 1),
        u32(A_HBMS, 1000), u64(A_RECL, 2), u32(A_RAFTER, 60)]
USAGE = [u64(A_CG, 1), u64(A_CPU, 123456789), u64(A_EXECS, 3), u64(A_FORKS, 4),
         u64(A_EXITS, 2)]
DEV = [s(A_BUS, "0000:00:02.0"), u16(A_VEN, 0x10de), u16(A_DEV, 0x2330), u16(A_SVEN, 0x10de),
       u16(A_SDEV, 0x16c1), u32(A_CLASS, 0x030200), u32(A_NUMA, -1)]
EXTACK = attr(1, b"hpcmeter: bad request\0")

seeds = {
    "info": seed(0, genl(1, INFO), error(0)),
    "info-error-extack": seed(0, error(-22, F_CAPPED | F_ACK_TLVS, EXTACK)),
    "info-ack-only": seed(0, error(0)),
    "usage-dump": seed(1, genl(3, USAGE, F_MULTI) + genl(3, USAGE, F_MULTI), done()),
    "usage-intr": seed(1, genl(3, USAGE, F_MULTI | F_DUMP_INTR), done(0, F_MULTI | F_DUMP_INTR)),
    "usage-done-error": seed(1, genl(3, USAGE, F_MULTI), done(-5, F_MULTI | F_ACK_TLVS) + EXTACK),
    "inventory-dump": seed(2, genl(2, DEV, F_MULTI), done()),
    "event-param": seed(3, genl(4, [u32(A_ETYPE, 1), u64(A_ESEQ, 1), u64(A_ETIME, 5),
                                    s(A_PNAME, "heartbeat_ms"), s(A_PVAL, "500")]), raw_seq=True),
    "event-heartbeat": seed(3, genl(4, [u32(A_ETYPE, 3), u64(A_ESEQ, 2), u64(A_ETIME, 6),
                                        u64(A_HB, 8)]), raw_seq=True),
    "event-dev": seed(3, genl(4, [u32(A_ETYPE, 4), u64(A_ESEQ, 3), u64(A_ETIME, 7)] + DEV),
                      raw_seq=True),
    "event-probe": seed(3, genl(4, [u32(A_ETYPE, 2), u64(A_ESEQ, 4), u64(A_ETIME, 8),
                                    s(A_PRNAME, "sched_switch"), u32(A_PRERR, -2)]),
                        raw_seq=True),
}
os.makedirs(sys.argv[1], exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(sys.argv[1], name), "wb") as f:
        f.write(data)
