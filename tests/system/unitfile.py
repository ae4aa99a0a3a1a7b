"""Run a command the way systemd/mediaforged.service runs it, as far as it can be done here.

There is no systemd as PID 1 on the test machines, so the unit's ExecStart and Environment lines
are parsed from the file and applied by hand, with what the kernel lets a root test apply:
- User=: the process drops to an unprivileged uid (nobody) with no supplementary groups;
- PrivateNetwork=: a new network namespace (only loopback, down);
- NoNewPrivileges=, SystemCallFilter=, SystemCallArchitectures=native,
  RestrictAddressFamilies= and MemoryDenyWriteExecute=: seccomp filters built with
  libseccomp from the unit's own lines and systemd's own syscall groups
  (`systemd-analyze syscall-filter`), with the same rules systemd 252 loads (a call outside the
  allow list kills the process with SIGSYS; a W+X mapping or a socket of another family fails);
- UMask= and Nice=.
Where the test's Python lives under a folder the unprivileged user cannot enter (pyenv in
/root), a private mount namespace lays a tmpfs over that folder and binds the interpreter's
prefix back, read-only: the way ProtectHome=tmpfs plus BindReadOnlyPaths= would.
Not emulated: the mount namespace (ProtectSystem=, ProtectHome=, PrivateTmp=, ProcSubset=...),
capability bounding (the process is unprivileged anyway) and the cgroup settings.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "mediaforged.service"
INSTALLED_BINARY = "/opt/mediaforge/bin/mediaforged"  # where the README installs it

# libseccomp's constants (seccomp.h).
_KILL_PROCESS = 0x80000000
_ALLOW = 0x7FFF0000
_CMP_EQ = 4
_CMP_GE = 5
_AF_MAX = 46  # linux/socket.h: the families there are
_CMP_MASKED_EQ = 7
_EPERM = 1
_EAFNOSUPPORT = 97
_PROT_WRITE, _PROT_EXEC = 0x2, 0x4
_SHM_EXEC = 0o100000
_CLONE_NEWNET = 0x40000000
_CLONE_NEWNS = 0x00020000
_MS_RDONLY, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18


def _errno_action(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


def parse_unit(path: Path = UNIT) -> dict[str, list[str]]:
    """The [Service] section: each key with its values in order (keys may repeat)."""
    section = ""
    out: dict[str, list[str]] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        if section == "Service":
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def exec_start(service: Mapping[str, list[str]], env: Mapping[str, str]) -> list[str]:
    """ExecStart split like systemd does, with ``${VAR}`` expanded from ``env``."""
    (line,) = service["ExecStart"]
    assert line[0] not in "-@:+!", f"ExecStart prefixes are not emulated: {line}"
    return [re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], w) for w in shlex.split(line)]


def environment(service: Mapping[str, list[str]]) -> dict[str, str]:
    """The unit's Environment= assignments (each line may hold several quoted ones)."""
    out: dict[str, str] = {}
    for line in service.get("Environment", []):
        for word in shlex.split(line):
            key, _, value = word.partition("=")
            out[key] = value
    return out


def _syscall_groups() -> dict[str, list[str]]:
    text = subprocess.run(
        ["systemd-analyze", "syscall-filter"], capture_output=True, text=True, check=True
    ).stdout
    groups: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif line.startswith(" ") and current is not None:
            word = line.strip()
            if word and not word.startswith("#"):
                current.append(word)
        else:
            current = None  # the trailing list of calls that are in no group
    return groups


def _expand(names: list[str], groups: Mapping[str, list[str]]) -> set[str]:
    out: set[str] = set()
    for name in names:
        out |= _expand(groups[name], groups) if name.startswith("@") else {name}
    return out


def allowed_syscalls(service: Mapping[str, list[str]]) -> set[str]:
    """SystemCallFilter= lines as systemd combines them: an allow list, then ~ removals."""
    groups = _syscall_groups()
    allowed = _expand(["@default"], groups)  # systemd always adds @default to an allow list
    for line in service["SystemCallFilter"]:
        if line.startswith("~"):
            allowed -= _expand(line[1:].split(), groups)
        else:
            allowed |= _expand(line.split(), groups)
    return allowed


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


class Seccomp:
    """The unit's seccomp filters, built before fork and loaded in the child (see sandbox())."""

    def __init__(self, service: Mapping[str, list[str]]) -> None:
        name = ctypes.util.find_library("seccomp")
        assert name, "libseccomp is not installed"
        lib = ctypes.CDLL(name, use_errno=True)
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_rule_add_array.argtypes = [
            ctypes.c_void_p,
            ctypes.c_uint32,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.POINTER(_ArgCmp),
        ]
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_load.argtypes = [ctypes.c_void_p]
        self._lib = lib
        self.unknown: list[str] = []  # names this libseccomp does not know (newer calls)
        self.filters: list[int] = []
        # Permissive filters first: the allow list, loaded last, must not need seccomp() after.
        if service.get("MemoryDenyWriteExecute") == ["yes"]:
            self.filters.append(self._memory_deny_write_execute())
        if families := service.get("RestrictAddressFamilies"):
            self.filters.append(self._only_families(" ".join(families).split()))
        self.filters.append(self._allow_list(allowed_syscalls(service)))

    def _nr(self, name: str) -> int:
        nr: int = self._lib.seccomp_syscall_resolve_name(name.encode())
        return nr

    def _rule(self, ctx: int, action: int, name: str, *cmps: tuple[int, int, int, int]) -> None:
        nr = self._nr(name)
        if nr < 0:
            self.unknown.append(name)
            return
        array = (_ArgCmp * max(len(cmps), 1))(*(_ArgCmp(*c) for c in cmps))
        rc = self._lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), array)
        assert rc == 0, f"seccomp_rule_add({name}) failed: {rc}"

    def _allow_list(self, names: set[str]) -> int:
        ctx: int = self._lib.seccomp_init(_KILL_PROCESS)
        for name in sorted(names):
            self._rule(ctx, _ALLOW, name)
        return ctx

    def _memory_deny_write_execute(self) -> int:
        # systemd 252's rules (seccomp_memory_deny_write_execute): no W+X mapping, no mprotect
        # to executable, no executable SysV shared memory.
        ctx: int = self._lib.seccomp_init(_ALLOW)
        wx = _PROT_WRITE | _PROT_EXEC
        self._rule(ctx, _errno_action(_EPERM), "mmap", (2, _CMP_MASKED_EQ, wx, wx))
        for name in ("mprotect", "pkey_mprotect"):
            self._rule(
                ctx, _errno_action(_EPERM), name, (2, _CMP_MASKED_EQ, _PROT_EXEC, _PROT_EXEC)
            )
        self._rule(ctx, _errno_action(_EPERM), "shmat", (2, _CMP_MASKED_EQ, _SHM_EXEC, _SHM_EXEC))
        return ctx

    def _only_families(self, names: list[str]) -> int:
        """socket() of a family the unit does not list fails with EAFNOSUPPORT, as systemd's
        filter makes it (one rule per other family: a rule compares an argument once)."""
        allowed = {int(getattr(socket, name)) for name in names}
        ctx: int = self._lib.seccomp_init(_ALLOW)
        refuse = _errno_action(_EAFNOSUPPORT)
        for family in range(_AF_MAX):
            if family not in allowed:
                self._rule(ctx, refuse, "socket", (0, _CMP_EQ, family, 0))
        self._rule(ctx, refuse, "socket", (0, _CMP_GE, _AF_MAX, 0))
        return ctx

    def load(self) -> None:
        """In the child: libseccomp sets no_new_privs (NoNewPrivileges=yes) on the first load."""
        for ctx in self.filters:
            if self._lib.seccomp_load(ctx) != 0:
                os._exit(121)


def closed_ancestor(path: Path) -> Path | None:
    """The outermost folder above ``path`` that others may not enter, if any."""
    closed = None
    for parent in path.parents:
        if not os.stat(parent).st_mode & 0o001:
            closed = parent
    return closed


def _expose(libc: ctypes.CDLL, closed: Path, keep: Path) -> None:  # pragma: no cover - child
    def mount(src: str | None, dst: str, fstype: str | None, flags: int, data: str | None) -> None:
        enc = [x.encode() if x is not None else None for x in (src, dst, fstype, data)]
        if libc.mount(enc[0], enc[1], enc[2], flags, enc[3]) != 0:
            os._exit(122)

    fd = os.open(keep, os.O_PATH)
    mount(None, "/", None, _MS_REC | _MS_PRIVATE, None)
    mount("tmpfs", str(closed), "tmpfs", 0, "mode=0755")
    os.makedirs(keep, exist_ok=True)
    mount(f"/proc/self/fd/{fd}", str(keep), None, _MS_BIND | _MS_REC, None)
    mount(None, str(keep), None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY, None)
    os.close(fd)


def sandbox(
    service: Mapping[str, list[str]], uid: int, gid: int, seccomp: Seccomp
) -> Callable[[], None]:
    """A preexec_fn that applies the unit's settings that can be emulated (module docstring)."""
    umask = int(service.get("UMask", ["0022"])[0], 8)
    nice = int(service.get("Nice", ["0"])[0])
    private_network = service.get("PrivateNetwork") == ["yes"]
    libc = ctypes.CDLL(None, use_errno=True)
    prefix = Path(sys.base_prefix).resolve()
    closed = closed_ancestor(prefix)

    def apply() -> None:  # pragma: no cover - runs in the forked child only
        flags = (_CLONE_NEWNET if private_network else 0) | (_CLONE_NEWNS if closed else 0)
        if flags and libc.unshare(flags) != 0:
            os._exit(120)
        if closed is not None:
            _expose(libc, closed, prefix)
        os.nice(nice)
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        os.umask(umask)
        seccomp.load()

    return apply


def unprivileged(uid: int, gid: int) -> Callable[[], None]:
    """A preexec_fn that only drops to ``uid``/``gid``, with the interpreter reachable
    (the same private mount namespace as ``sandbox``), for tests that need a daemon that
    cannot read everything."""
    libc = ctypes.CDLL(None, use_errno=True)
    prefix = Path(sys.base_prefix).resolve()
    closed = closed_ancestor(prefix)

    def apply() -> None:  # pragma: no cover - runs in the forked child only
        if closed is not None:
            if libc.unshare(_CLONE_NEWNS) != 0:
                os._exit(120)
            _expose(libc, closed, prefix)
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)

    return apply
