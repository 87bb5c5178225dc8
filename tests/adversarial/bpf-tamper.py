#!/usr/bin/python3
# Root's attempts on a running meter's BPF links, through the bpf(2) system call itself:
# detach each link (BPF_LINK_DETACH) and replace its program with a no-op (BPF_LINK_UPDATE): a
# raw tracepoint program that does nothing, or the program pinned at PROG (an iterator's).
# usage: bpf-tamper.py detach|update [--prog PROG] LINK_ID...
# Prints one line per link, "LINK_ID ok" or "LINK_ID ERRNO_NAME"; exit 0 whatever the kernel
# answered (the caller checks what the meter recorded), 2 on a usage error.
import ctypes
import errno
import os
import sys

SYS_BPF = 321  # x86-64
BPF_PROG_LOAD, BPF_OBJ_GET, BPF_LINK_UPDATE, BPF_LINK_GET_FD_BY_ID, BPF_LINK_DETACH = 5, 7, 29, 30, 34
BPF_PROG_TYPE_RAW_TRACEPOINT = 17

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(bytes(attr), 128)
    r = libc.syscall(SYS_BPF, cmd, buf, 128)
    return r if r >= 0 else -ctypes.get_errno()


def u32s(*v):
    return b"".join(x.to_bytes(4, "little") for x in v)


def noop_prog():
    insns = ctypes.create_string_buffer(
        bytes([0xB7, 0, 0, 0, 0, 0, 0, 0,  # r0 = 0
               0x95, 0, 0, 0, 0, 0, 0, 0]), 16)  # exit
    lic = ctypes.create_string_buffer(b"GPL")
    attr = (u32s(BPF_PROG_TYPE_RAW_TRACEPOINT, 2) +
            ctypes.addressof(insns).to_bytes(8, "little") +
            ctypes.addressof(lic).to_bytes(8, "little"))
    return bpf(BPF_PROG_LOAD, attr)


def pinned_prog(path):
    name = ctypes.create_string_buffer(path.encode())
    return bpf(BPF_OBJ_GET, ctypes.addressof(name).to_bytes(8, "little") + u32s(0, 0))


def main():
    args = sys.argv[1:]
    if len(args) < 2 or args[0] not in ("detach", "update"):
        print("usage: bpf-tamper.py detach|update [--prog PROG] LINK_ID...", file=sys.stderr)
        return 2
    action, args = args[0], args[1:]
    prog = -1
    if action == "update":
        if args[0] == "--prog":
            prog, args = pinned_prog(args[1]), args[2:]
        else:
            prog = noop_prog()
        if prog < 0:
            print("cannot get the replacement program: %s" % errno.errorcode.get(-prog),
                  file=sys.stderr)
            return 1
    for link_id in map(int, args):
        fd = bpf(BPF_LINK_GET_FD_BY_ID, u32s(link_id))
        if fd < 0:
            print(link_id, errno.errorcode.get(-fd, str(-fd)))
            continue
        if action == "detach":
            r = bpf(BPF_LINK_DETACH, u32s(fd))
        else:
            r = bpf(BPF_LINK_UPDATE, u32s(fd, prog, 0, 0))
        print(link_id, "ok" if r >= 0 else errno.errorcode.get(-r, str(-r)))
        os.close(fd)
    return 0


sys.exit(main())
