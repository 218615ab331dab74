"""The seccomp filter of the sandbox, written as classic BPF by hand (no library needed).

bubblewrap loads it (``--seccomp FD``) just before it executes the interpreter, so it binds
the user's code and every process that code starts, and it cannot be removed. It is a deny
list on top of what the namespaces already take away:

- new namespaces and mounts (``unshare``, ``setns``, ``clone`` with a ``CLONE_NEW*`` flag,
  the new mount API, ``pivot_root``, ``chroot``), so nothing can be re-mounted or re-mapped;
- reaching into other processes or the kernel (``ptrace``, ``process_vm_*``, ``pidfd_getfd``,
  ``bpf``, ``perf_event_open``, ``userfaultfd``, keyrings, modules, ``kexec``, ``io_uring``,
  which would run socket and file operations past this filter);
- sockets of any family but ``AF_UNIX`` (the network namespace has no interfaces anyway).

``clone3`` answers ENOSYS: its flags sit in memory a filter cannot read, and glibc then falls
back to ``clone``, whose flags are checked. Calls of another architecture (x32, i386 on
x86_64) are killed, so syscall numbers cannot be smuggled through a second table.
"""

import platform
import struct

AF_UNIX = 1
EPERM = 1
EAFNOSUPPORT = 97
ENOSYS = 38
CLONE_NEW_FLAGS = 0x7E020000  # NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000

# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6] (little endian).
OFFSET_NR, OFFSET_ARCH, OFFSET_ARG0 = 0, 4, 16

BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_JGE_K = 0x35
BPF_JSET_K = 0x45
BPF_RET_K = 0x06

DENIED = (  # noqa: SIM905
    "mount umount2 pivot_root chroot unshare setns open_tree move_mount fsopen fsconfig "
    "fsmount fspick mount_setattr ptrace process_vm_readv process_vm_writev pidfd_getfd kcmp "
    "bpf perf_event_open userfaultfd keyctl add_key request_key io_uring_setup io_uring_enter "
    "io_uring_register name_to_handle_at open_by_handle_at kexec_load kexec_file_load "
    "init_module finit_module delete_module iopl ioperm swapon swapoff reboot sethostname "
    "setdomainname syslog acct quotactl settimeofday clock_settime clock_adjtime adjtimex "
    "vhangup lookup_dcookie"
).split()


class Arch:
    def __init__(self, audit_arch: int, numbers: dict[str, int], *, x32_bit: bool) -> None:
        self.audit_arch = audit_arch
        self.numbers = numbers
        self.x32_bit = x32_bit  # x86_64 also accepts x32 calls, numbered from 0x40000000


# Numbers from the kernel's uapi headers (asm/unistd_64.h, asm-generic/unistd.h).
# fmt: off
X86_64 = Arch(
    0xC000003E,
    {
        "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "unshare": 272,
        "setns": 308, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
        "fsmount": 432, "fspick": 433, "mount_setattr": 442, "ptrace": 101,
        "process_vm_readv": 310, "process_vm_writev": 311, "pidfd_getfd": 438, "kcmp": 312,
        "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "keyctl": 250, "add_key": 248,
        "request_key": 249, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "name_to_handle_at": 303, "open_by_handle_at": 304,
        "kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313,
        "delete_module": 176, "iopl": 172, "ioperm": 173, "swapon": 167, "swapoff": 168,
        "reboot": 169, "sethostname": 170, "setdomainname": 171, "syslog": 103, "acct": 163,
        "quotactl": 179, "settimeofday": 164, "clock_settime": 227, "clock_adjtime": 305,
        "adjtimex": 159, "vhangup": 153, "lookup_dcookie": 212,
        "socket": 41, "socketpair": 53, "clone": 56, "clone3": 435,
    },
    x32_bit=True,
)
AARCH64 = Arch(
    0xC00000B7,
    {
        "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "unshare": 97,
        "setns": 268, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
        "fsmount": 432, "fspick": 433, "mount_setattr": 442, "ptrace": 117,
        "process_vm_readv": 270, "process_vm_writev": 271, "pidfd_getfd": 438, "kcmp": 272,
        "bpf": 280, "perf_event_open": 241, "userfaultfd": 282, "keyctl": 219, "add_key": 217,
        "request_key": 218, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "name_to_handle_at": 264, "open_by_handle_at": 265,
        "kexec_load": 104, "kexec_file_load": 294, "init_module": 105, "finit_module": 273,
        "delete_module": 106, "swapon": 224, "swapoff": 225, "reboot": 142,
        "sethostname": 161, "setdomainname": 162, "syslog": 116, "acct": 89, "quotactl": 60,
        "settimeofday": 170, "clock_settime": 112, "clock_adjtime": 266, "adjtimex": 171,
        "vhangup": 58, "lookup_dcookie": 18,
        "socket": 198, "socketpair": 199, "clone": 220, "clone3": 435,
    },
    x32_bit=False,
)
# fmt: on
ARCHES = {"x86_64": X86_64, "aarch64": AARCH64}


def current_arch() -> Arch | None:
    return ARCHES.get(platform.machine())


class _Program:
    """A tiny assembler: instructions with symbolic jump targets, resolved at the end."""

    def __init__(self) -> None:
        self.code: list[tuple[int, str | int, str | int, int]] = []
        self.labels: dict[str, int] = {}

    def op(self, code: int, k: int, jt: str | int = 0, jf: str | int = 0) -> None:
        self.code.append((code, jt, jf, k))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def assemble(self) -> bytes:
        out = bytearray()
        for index, (code, jt, jf, k) in enumerate(self.code):
            offsets = []
            for target in (jt, jf):
                offset = target if isinstance(target, int) else self.labels[target] - index - 1
                if not 0 <= offset <= 255:
                    raise ValueError("seccomp jump out of range")
                offsets.append(offset)
            out += struct.pack("=HBBI", code, offsets[0], offsets[1], k)
        return bytes(out)


def program(arch: Arch) -> bytes:
    """The filter as bytes of ``struct sock_filter``, ready for ``bwrap --seccomp``."""
    n = arch.numbers
    p = _Program()
    p.op(BPF_LD_W_ABS, OFFSET_ARCH)
    p.op(BPF_JEQ_K, arch.audit_arch, 0, "kill")
    p.op(BPF_LD_W_ABS, OFFSET_NR)
    if arch.x32_bit:
        p.op(BPF_JGE_K, 0x40000000, "kill", 0)
    for name in DENIED:
        if name in n:
            p.op(BPF_JEQ_K, n[name], "eperm", 0)
    p.op(BPF_JEQ_K, n["clone3"], "enosys", 0)
    p.op(BPF_JEQ_K, n["clone"], "clone", 0)
    p.op(BPF_JEQ_K, n["socket"], "socket", 0)
    p.op(BPF_JEQ_K, n["socketpair"], "socket", 0)
    p.op(BPF_RET_K, SECCOMP_RET_ALLOW)

    p.label("clone")  # clone(flags, ...): no new namespaces
    p.op(BPF_LD_W_ABS, OFFSET_ARG0)
    p.op(BPF_JSET_K, CLONE_NEW_FLAGS, "eperm", 0)
    p.op(BPF_RET_K, SECCOMP_RET_ALLOW)

    p.label("socket")  # socket(domain, ...), socketpair(domain, ...): AF_UNIX only
    p.op(BPF_LD_W_ABS, OFFSET_ARG0)
    p.op(BPF_JEQ_K, AF_UNIX, 0, "eafnosupport")
    p.op(BPF_RET_K, SECCOMP_RET_ALLOW)

    p.label("eafnosupport")
    p.op(BPF_RET_K, SECCOMP_RET_ERRNO | EAFNOSUPPORT)
    p.label("enosys")
    p.op(BPF_RET_K, SECCOMP_RET_ERRNO | ENOSYS)
    p.label("eperm")
    p.op(BPF_RET_K, SECCOMP_RET_ERRNO | EPERM)
    p.label("kill")
    p.op(BPF_RET_K, SECCOMP_RET_KILL_PROCESS)
    return p.assemble()
