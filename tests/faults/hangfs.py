"""A tiny read-only FUSE file system whose server can stop answering: a hung mount, for real.

It speaks the kernel's FUSE protocol itself over ``/dev/fuse`` (no libfuse, no Python
package): root mounts it with mount(2), and a thread of the test process answers the
requests. ``hang()`` makes that thread stop reading requests, as a dead NFS server would:
every process that touches the mount then waits in the kernel (a ``stat`` does not return)
until ``resume()``, and can still be killed (a hard NFS mount's waits are killable too).
Attributes and names are never cached (valid for 0 s), so every ``stat`` reaches the server.

One flat folder of regular files (``add`` puts one in, bumping the folder's mtime as a
real file system does). Only what a reader needs is answered; the rest gets ENOSYS.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import select
import stat
import struct
import threading
import time
from pathlib import Path

__all__ = ["HangFS", "fuse_unavailable"]

# Opcodes (linux/fuse.h)
_LOOKUP, _FORGET, _GETATTR = 1, 2, 3
_OPEN, _READ, _STATFS, _RELEASE = 14, 15, 17, 18
_FLUSH, _INIT, _OPENDIR, _READDIR, _RELEASEDIR = 25, 26, 27, 28, 29
_INTERRUPT, _DESTROY, _BATCH_FORGET = 36, 38, 42

_IN_HEADER = struct.Struct("<IIQQIIII")  # len, opcode, unique, nodeid, uid, gid, pid, pad
_OUT_HEADER = struct.Struct("<IiQ")  # len, error, unique
# ino size blocks atime mtime ctime, atimensec mtimensec ctimensec mode nlink uid gid rdev
# blksize flags
_ATTR = struct.Struct("<QQQQQQIIIIIIIIII")
_MNT_DETACH = 2
_ROOT = 1

_libc = ctypes.CDLL(None, use_errno=True)


def fuse_unavailable() -> str:
    """Why a FUSE file system cannot be mounted here, or "" when it can."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse on this machine"
    if os.geteuid() != 0:
        return "mounting a FUSE file system by mount(2) needs root"
    return ""


class HangFS:
    def __init__(self, mountpoint: Path) -> None:
        self.mountpoint = mountpoint
        self._files: dict[bytes, tuple[int, bytes, int]] = {}  # name -> (ino, data, mtime_ns)
        self._dir_mtime_ns = time.time_ns()
        self._lock = threading.Lock()
        self._answering = threading.Event()
        self._answering.set()
        self.held = threading.Event()  # set while hung with a request waiting to be read
        self._fd = -1
        self._thread: threading.Thread | None = None

    # -- what the test does -------------------------------------------------------------

    def add(self, name: str, data: bytes) -> None:
        with self._lock:
            self._files[os.fsencode(name)] = (len(self._files) + 2, data, time.time_ns())
            self._dir_mtime_ns = time.time_ns()

    def mount(self) -> None:
        """Mount it (OSError when the kernel refuses) and start answering."""
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        self._fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
        options = f"fd={self._fd},rootmode=40000,user_id=0,group_id=0".encode()
        target = os.fsencode(self.mountpoint)
        if _libc.mount(b"hangfs", target, b"fuse.hangfs", 0, options) != 0:
            err = ctypes.get_errno()
            os.close(self._fd)
            raise OSError(err, f"mount {self.mountpoint}: {os.strerror(err)}")
        self._thread = threading.Thread(target=self._serve, name="hangfs", daemon=True)
        self._thread.start()

    def hang(self) -> None:
        """Stop answering: every request from now on waits (one being answered ends)."""
        self._answering.clear()

    def resume(self) -> None:
        self._answering.set()

    def unmount(self) -> None:
        self.resume()
        _libc.umount2(os.fsencode(self.mountpoint), _MNT_DETACH)
        if self._thread is not None:
            self._thread.join(5)  # the read ends (ENODEV) once the last user let go

    # -- the server ---------------------------------------------------------------------

    def _serve(self) -> None:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        while True:
            # While hung, requests are left unread in the kernel's queue, as a dead server
            # leaves them: a process waiting on one can still be killed. (One read and held
            # here could not: the kernel waits for its answer uninterruptibly.)
            events = poller.poll(100)
            if not self._answering.is_set():
                if events and events[0][1] & select.POLLIN:
                    self.held.set()  # someone waits on us
                continue
            self.held.clear()
            if not events:
                continue
            if events[0][1] & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
                break  # unmounted
            try:
                data = os.read(self._fd, 1 << 20 | 4096)
            except OSError as exc:
                if exc.errno in (errno.EINTR, errno.EAGAIN, errno.ENOENT):
                    continue  # ENOENT: a request that was interrupted meanwhile
                break  # ENODEV: unmounted
            _, opcode, unique, node, *_ = _IN_HEADER.unpack_from(data)
            if opcode in (_FORGET, _BATCH_FORGET, _INTERRUPT):
                continue  # no reply expected
            try:
                error, payload = self._answer(opcode, node, data[_IN_HEADER.size :])
            except Exception:
                error, payload = errno.EIO, b""
            reply = _OUT_HEADER.pack(_OUT_HEADER.size + len(payload), -error, unique) + payload
            with contextlib.suppress(OSError):  # interrupted: the kernel waits no more
                os.write(self._fd, reply)
            if opcode == _DESTROY:
                break
        os.close(self._fd)

    def _answer(self, opcode: int, node: int, body: bytes) -> tuple[int, bytes]:
        if opcode == _INIT:
            _major, minor, readahead, _flags = struct.unpack_from("<IIII", body)
            # major minor max_readahead flags max_background congestion max_write time_gran
            # max_pages map_alignment flags2 unused[7]
            out = struct.pack(
                "<IIIIHHIIHHI7I", 7, min(minor, 31), readahead, 0, 16, 12, 131072, 1, 0, 0, 0,
                *[0] * 7,
            )  # fmt: skip
            return 0, out
        if opcode == _GETATTR:
            attr = self._attr(node)
            return (0, struct.pack("<QII", 0, 0, 0) + attr) if attr else (errno.ENOENT, b"")
        if opcode == _LOOKUP:
            with self._lock:
                entry = self._files.get(body.rstrip(b"\0")) if node == _ROOT else None
            if entry is None:
                return errno.ENOENT, b""
            return 0, struct.pack("<QQQQII", entry[0], 0, 0, 0, 0, 0) + self._attr(entry[0])
        if opcode in (_OPEN, _OPENDIR):
            flags = struct.unpack_from("<I", body)[0]
            if flags & os.O_ACCMODE != os.O_RDONLY:
                return errno.EROFS, b""
            return 0, struct.pack("<QII", 0, 0, 0)
        if opcode == _READ:
            _, offset, size = struct.unpack_from("<QQI", body)
            return 0, self._data(node)[offset : offset + size]
        if opcode == _READDIR:
            _, offset, size = struct.unpack_from("<QQI", body)
            return 0, self._listing(offset, size)
        if opcode == _STATFS:
            return 0, struct.pack("<QQQQQIIII6I", 0, 0, 0, 0, 0, 4096, 255, 4096, 0, *[0] * 6)
        if opcode in (_RELEASE, _RELEASEDIR, _FLUSH, _DESTROY):
            return 0, b""
        return errno.ENOSYS, b""

    def _attr(self, node: int) -> bytes:
        uid, gid = os.getuid(), os.getgid()
        with self._lock:
            if node == _ROOT:
                m = self._dir_mtime_ns
                s, ns = divmod(m, 10**9)
                return _ATTR.pack(_ROOT, 0, 0, s, s, s, ns, ns, ns, stat.S_IFDIR | 0o755, 2,
                                  uid, gid, 0, 4096, 0)  # fmt: skip
            for ino, data, mtime in self._files.values():
                if ino == node:
                    s, ns = divmod(mtime, 10**9)
                    blocks = (len(data) + 511) // 512
                    return _ATTR.pack(ino, len(data), blocks, s, s, s, ns, ns, ns,
                                      stat.S_IFREG | 0o644, 1, uid, gid, 0, 4096, 0)  # fmt: skip
        return b""

    def _data(self, node: int) -> bytes:
        with self._lock:
            return next((d for ino, d, _ in self._files.values() if ino == node), b"")

    def _listing(self, offset: int, size: int) -> bytes:
        with self._lock:
            entries = [(_ROOT, b".", 4), (_ROOT, b"..", 4)]
            entries += [(ino, name, 8) for name, (ino, _, _) in self._files.items()]
        out = b""
        for index in range(offset, len(entries)):
            ino, name, kind = entries[index]
            record = struct.pack("<QQII", ino, index + 1, len(name), kind) + name
            record += bytes(-len(record) % 8)  # each entry is padded to 8 bytes
            if len(out) + len(record) > size:
                break
            out += record
        return out
