"""A seccomp filter for the bubblewrap backend, compiled by libseccomp (through ctypes; no Python package needed).

bubblewrap loads a classic-BPF program from a file descriptor (``--seccomp FD``) just before it runs the harness;
the filter then holds for the harness and every candidate process. It follows the spirit of Docker's default profile
for an unprivileged container: everything a Python program needs is allowed; what only serves to attack the kernel
or to escape fails with EPERM:

- namespaces and mounts: ``unshare``, ``setns``, ``clone``/``clone3`` with a namespace flag, ``mount``/``umount2``,
  ``pivot_root``, ``chroot``, the new mount API (``fsopen``, ``fsmount``, ``move_mount``, ``open_tree`` ...);
- kernel attack surface: ``bpf``, ``perf_event_open``, ``userfaultfd``, ``io_uring_*``, ``keyctl``/``add_key``/
  ``request_key``, module and kexec loading, ``ptrace``, ``process_vm_readv/writev``, ``kcmp``,
  ``open_by_handle_at``/``name_to_handle_at``, ``lookup_dcookie``;
- host state: clocks, ``reboot``, ``swapon``/``swapoff``, ``acct``, ``quotactl``, ``syslog``, ``vhangup``,
  ``iopl``/``ioperm``, ``sethostname``/``setdomainname``;
- ``ioctl(TIOCSTI)`` (typing into a terminal), ``ioctl(TIOCLINUX)``.

``clone3`` fails with ENOSYS rather than EPERM (its flags live in memory a filter cannot read), so the C library
falls back to ``clone``, whose flags it can check. Only the native architecture is allowed; a syscall of another ABI
(``int 0x80``, x32) kills the process (libseccomp's default for a foreign architecture).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os

_SCMP_ACT_ALLOW = 0x7FFF0000


def _act_errno(e: int) -> int:
    return 0x00050000 | (e & 0xFFFF)


_SCMP_CMP_MASKED_EQ = 7

DENIED = (
    "unshare", "setns", "mount", "umount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount",
    "fspick", "move_mount", "open_tree", "mount_setattr",
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "keyctl", "add_key", "request_key",
    "init_module", "finit_module", "delete_module", "create_module", "kexec_load", "kexec_file_load",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "open_by_handle_at", "name_to_handle_at",
    "lookup_dcookie", "get_kernel_syms", "query_module", "nfsservctl", "uselib", "ustat", "sysfs", "_sysctl",
    "vm86", "vm86old",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "stime", "reboot", "swapon", "swapoff", "acct",
    "quotactl", "quotactl_fd", "syslog", "vhangup", "iopl", "ioperm", "sethostname", "setdomainname",
)
CLONE_NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000,
                         0x00000080)  # NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
TIOCSTI, TIOCLINUX = 0x5412, 0x541C


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


class SeccompUnavailable(RuntimeError):
    pass


def _lib():
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError as exc:
        raise SeccompUnavailable(f"libseccomp is not installed ({exc}); apt-get install libseccomp2") from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.restype = ctypes.c_int
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(_ArgCmp)]
    lib.seccomp_export_bpf.restype = ctypes.c_int
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


def build_filter() -> bytes:
    """The filter as the BPF program bytes that ``bwrap --seccomp FD`` reads; raises SeccompUnavailable."""
    lib = _lib()
    ctx = lib.seccomp_init(_SCMP_ACT_ALLOW)
    if not ctx:
        raise SeccompUnavailable("seccomp_init failed")
    try:
        eperm = _act_errno(errno.EPERM)

        def rule(action: int, name: str, *cmps: tuple[int, int, int, int]) -> None:
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            if nr < 0:  # not a syscall of this architecture (e.g. vm86 on x86_64)
                return
            arr = (_ArgCmp * max(1, len(cmps)))(*[_ArgCmp(*c) for c in cmps])
            rc = lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), arr)
            if rc < 0:
                raise SeccompUnavailable(f"seccomp_rule_add({name}) failed: {os.strerror(-rc)}")

        for name in DENIED:
            rule(eperm, name)
        rule(_act_errno(errno.ENOSYS), "clone3")
        for flag in CLONE_NAMESPACE_FLAGS:
            rule(eperm, "clone", (0, _SCMP_CMP_MASKED_EQ, flag, flag))
        for req in (TIOCSTI, TIOCLINUX):
            rule(eperm, "ioctl", (1, _SCMP_CMP_MASKED_EQ, 0xFFFFFFFF, req))
        fd = os.memfd_create("dreamprm-seccomp", os.MFD_CLOEXEC)
        try:
            rc = lib.seccomp_export_bpf(ctx, fd)
            if rc < 0:
                raise SeccompUnavailable(f"seccomp_export_bpf failed: {os.strerror(-rc)}")
            os.lseek(fd, 0, os.SEEK_SET)
            chunks = []
            while True:
                b = os.read(fd, 1 << 16)
                if not b:
                    break
                chunks.append(b)
        finally:
            os.close(fd)
        prog = b"".join(chunks)
        if not prog or len(prog) % 8:
            raise SeccompUnavailable(f"libseccomp exported {len(prog)} bytes, not a BPF program")
        return prog
    finally:
        lib.seccomp_release(ctx)
