"""Local-disk primitives shared by the cache, the local store and checkout.

Every local write goes through :func:`atomic_file`: a temporary file with a unique name in the
destination folder, flushed, then moved into place (``os.replace``) or linked (``os.link``,
which fails if the destination exists: a create-if-absent). A crash or exception removes the
temporary file, so no reader ever sees a half-written file.
"""

from __future__ import annotations

import contextlib
import errno
import io
import mmap
import os
import shutil
import stat
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from satchel.errors import DiskFullError, LocalAccessError, SatchelError
from satchel.hashing import CHUNK, Hasher

READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
#: ``errno`` values that mean "no room to write": the disk is full, or the user's quota is
NO_SPACE = frozenset(n for n in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if n is not None)
#: ``errno`` values that mean "not allowed": permission denied, or a read-only filesystem
NO_ACCESS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})


#: what a local folder is to satchel, for naming a full disk: (name, what frees that disk)
ROLES = {
    "cache": (
        "the cache",
        (
            "`satchel cache cleanup --target-size SIZE` trims the cache, SATCHEL_CACHE_DIR (or "
            "--cache-dir) moves it"
        ),
    ),
    "store": (
        "the store",
        (
            "`satchel gc` removes content no version uses (`satchel delete` versions you no "
            "longer need first), or use a store on a disk with room"
        ),
    ),
    "target": ("the download folder", "free space there or pick a folder on another disk"),
    "workdir": (
        "the working directory, where downloads go by default",
        "free space there or pass a download folder on another disk (--root, root=)",
    ),
    "temp": (
        "the temporary folder",
        "free space there or set TMPDIR to a folder on a disk with room",
    ),
}
#: a local folder the block writes to: a path, or ``(path, role)`` with a role of :data:`ROLES`
Folder = str | tuple[str, str]


@contextlib.contextmanager
def local_errors_typed(doing: str, folders: Callable[[], Iterable[Folder]]) -> Iterator[None]:
    """Turn a local read or write inside the block that failed for lack of space into
    :class:`DiskFullError`, and one the OS refused into :class:`LocalAccessError`.

    The block's own cleanup (temporary files, packs) has already run when the error reaches
    this frame, so only the message changes: it names the path or folder concerned (the one
    the OS reported; for a full disk without one, the one of ``folders`` with the least free
    space), for a full disk also that folder's role (the cache, the store, the download
    folder, ...) and what frees that disk, and what to do. Errors satchel already typed pass
    unchanged.

    Args:
        doing: what was being done, for the message (``"saving ds"``).
        folders: the local folders the block writes to, each with its role where known
            (:data:`Folder`); called only after a failure.
    """
    try:
        yield
    except SatchelError:
        raise
    except OSError as exc:
        # a failed copy names both files (shutil: source, then destination): the written one
        named = exc.filename2 or exc.filename
        path = os.fsdecode(named) if named else None
        if exc.errno in NO_ACCESS:
            what = (
                "is on a read-only filesystem"
                if exc.errno == errno.EROFS
                else ("may not be read or written by you (permission denied)")
            )
            raise LocalAccessError(
                f"{path or 'a local path'} {what}, while {doing}. Use a folder you may write "
                "to (SATCHEL_CACHE_DIR moves the cache) or fix its permissions, and try again",
                errno=exc.errno,
                path=path,
            ) from exc
        if exc.errno not in NO_SPACE:
            raise
        known = [(f, None) if isinstance(f, str) else f for f in folders()]
        folder = (os.path.dirname(path) if path else None) or _least_free(f for f, _r in known)
        role = _role_of(folder, known) if folder else None
        where = f"on the disk of {folder} " if folder else ""
        what = "the disk quota is used up" if exc.errno != errno.ENOSPC else "no space is left"
        if role is None:
            advice = (
                "Free space there (`satchel cache cleanup --target-size SIZE` trims the "
                "cache, SATCHEL_CACHE_DIR moves it) and try again"
            )
        else:
            name, remedy = ROLES[role]
            where += f"({name}) "
            advice = f"To free that disk: {remedy}; then try again"
        raise DiskFullError(
            f"{what} {where}while {doing}; nothing half-written was kept. {advice}",
            errno=exc.errno or errno.ENOSPC,
            folder=folder,
            role=role,
        ) from exc


def _role_of(folder: str, known: Iterable[tuple[str, str | None]]) -> str | None:
    """The role of the known folder that holds ``folder`` most closely (the longest one)."""
    best: tuple[int, str] | None = None
    folder = os.path.abspath(folder)
    for path, role in known:
        if role is None:
            continue
        path = os.path.abspath(path)
        inside = folder == path or folder.startswith(path.rstrip(os.sep) + os.sep)
        if inside and (best is None or len(path) > best[0]):
            best = (len(path), role)
    return best[1] if best else None


def _least_free(folders: Iterable[str]) -> str | None:
    """The folder (of those given) whose disk has the least free space; a folder that does
    not exist yet counts with its nearest existing parent."""
    best: tuple[int, str] | None = None
    for folder in dict.fromkeys(os.path.abspath(f) for f in folders):
        probe = folder
        while not os.path.isdir(probe) and os.path.dirname(probe) != probe:
            probe = os.path.dirname(probe)
        try:
            free = shutil.disk_usage(probe).free
        except OSError:
            continue
        if best is None or free < best[0]:
            best = (free, folder)
    return best[1] if best else None


def tmp_name(dest: str) -> str:
    """A unique temporary path next to ``dest`` (same folder, so rename/link is atomic)."""
    head, tail = os.path.split(dest)
    return os.path.join(head, f".{tail[:80]}.{uuid.uuid4().hex[:12]}.tmp")


@contextlib.contextmanager
def atomic_file(
    dest: str, *, exclusive: bool = False, mode: int | None = None, fsync: bool = False
) -> Iterator[BinaryIO]:
    """Write ``dest`` atomically through a temporary file.

    Args:
        dest: final path; its folder is created when missing.
        exclusive: create-if-absent: raise ``FileExistsError`` when ``dest`` exists at the
            moment of the move (implemented with ``os.link``, which never overwrites).
        mode: permission bits to set before the move (e.g. :data:`READ_ONLY`).
        fsync: flush the data to disk before the move (used for commit records).

    Yields:
        The open temporary file, to write into.
    """
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    tmp = tmp_name(dest)
    f = open(tmp, "xb")  # noqa: SIM115 - yielded, closed below
    try:
        yield f
        f.flush()
        if fsync:
            os.fsync(f.fileno())
        f.close()
        if mode is not None:
            os.chmod(tmp, mode)
        if exclusive:
            os.link(tmp, dest)
            os.unlink(tmp)
        else:
            os.replace(tmp, dest)
    except BaseException:
        f.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes_atomic(
    dest: str, data: bytes, *, exclusive: bool = False, fsync: bool = False
) -> None:
    """Write ``data`` to ``dest`` atomically (see :func:`atomic_file`)."""
    with atomic_file(dest, exclusive=exclusive, fsync=fsync) as f:
        f.write(data)


#: files at most this big are copied by :func:`read_small` + :func:`write_small_atomic`: one
#: read and one write, no file objects (per-file work, not bytes, bounds many small files)
SMALL_FILE = 1 << 20


def read_small(path: str) -> bytes | None:
    """The whole content of the regular file ``path`` if it holds at most :data:`SMALL_FILE`
    bytes, else ``None`` (read it as a stream). One ``open``, ``fstat``, ``read`` and ``close``.

    Raises:
        FileNotFoundError: ``path`` does not exist (``filename`` is ``path``).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    try:
        size = os.fstat(fd).st_size
        if size > SMALL_FILE:
            return None
        first = os.read(fd, size + 1)
        if len(first) <= size:  # a regular file reads short only at its end
            return first
        parts, total = [first], len(first)  # it grew since the fstat: read on
        while total <= SMALL_FILE and (chunk := os.read(fd, CHUNK)):
            parts.append(chunk)
            total += len(chunk)
        return None if total > SMALL_FILE else b"".join(parts)
    finally:
        os.close(fd)


def write_small_atomic(
    dest: str, data: bytes | memoryview, *, mode: int = 0o666, made: set[str] | None = None
) -> os.stat_result:
    """Write ``data`` to ``dest`` atomically, as :func:`atomic_file` does (a temporary file in
    the same folder, renamed over ``dest``), with the fewest system calls: ``open``, ``write``,
    ``rename``, ``fstat``, ``close``, and no Python file object.

    Args:
        dest: final path.
        data: its bytes.
        mode: permission bits of the new file (``0o666`` less the umask; :data:`READ_ONLY` for
            a store object: a file created read-only can still be written through the
            descriptor that created it).
        made: folders known to exist (shared by the calls of one batch): a folder not in it is
            created when missing and added, so each folder costs one ``makedirs``.

    Returns:
        The stat of the file under its final name (taken after the rename, which changes
        its ctime on some filesystems, for the stat cache).
    """
    head = os.path.dirname(dest) or "."
    if made is None or head not in made:
        os.makedirs(head, exist_ok=True)
        if made is not None:
            made.add(head)
    tmp = tmp_name(dest)
    fd = os.open(
        tmp,
        os.O_WRONLY
        | os.O_CREAT
        | os.O_EXCL
        | getattr(os, "O_CLOEXEC", 0)
        | getattr(os, "O_BINARY", 0),
        mode,
    )
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if os.name == "nt":  # pragma: no cover - Windows renames only closed files
            os.close(fd)
            fd = -1
        os.replace(tmp, dest)
        return os.fstat(fd) if fd >= 0 else os.stat(dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        if fd >= 0:
            os.close(fd)


def copy_hashing(
    src: BinaryIO,
    dst: BinaryIO,
    hasher: Hasher | None,
    on_bytes: Callable[[int], None] | None = None,
) -> int:
    """Copy a stream while hashing it; return the byte count."""
    n = 0
    if isinstance(src, (io.BufferedReader, io.FileIO)):
        # A local file: read into one reused buffer (no 1 MiB allocation per chunk).
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while got := src.readinto(buf):
            part = view[:got]
            if hasher is not None:
                hasher.update(part)
            dst.write(part)
            n += got
            if on_bytes:
                on_bytes(got)
        return n
    while True:
        chunk = src.read(CHUNK)
        if not chunk:
            return n
        if hasher is not None:
            hasher.update(chunk)
        dst.write(chunk)
        n += len(chunk)
        if on_bytes:
            on_bytes(len(chunk))


def copy_file(src: BinaryIO, dst: BinaryIO) -> int:
    """Copy one open regular file into another, in the kernel where possible (``sendfile``:
    no round trip through user memory, ~3x less system time than read/write on Linux).

    Returns:
        Bytes copied.
    """
    dst.flush()
    n = 0
    if hasattr(os, "sendfile") and sys.platform.startswith("linux"):
        in_fd, out_fd = src.fileno(), dst.fileno()
        try:
            while sent := os.sendfile(out_fd, in_fd, None, 1 << 30):
                n += sent
            return n
        except OSError as exc:
            if n or exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
                raise
    while chunk := src.read(CHUNK):
        dst.write(chunk)
        n += len(chunk)
    return n


#: files at least this big are copied with :func:`copy_direct` where the filesystem allows
DIRECT_MIN = 8 << 20
_DIRECT_CHUNK = 4 << 20  # a multiple of every logical block size (512 B .. 4 KiB)
_ALIGN = 4096


def copy_direct(src: BinaryIO, dest: str, hasher: Hasher, *, mode: int | None = None) -> int | None:
    """Copy an open regular file into the new file ``dest``, hashing the bytes as they are
    written, with ``O_DIRECT`` writes that bypass the page cache.

    Why: a buffered copy of a large file makes the kernel allocate, dirty and later write back
    a page-cache page per 4 KiB. On a VM whose balloon driver reports freed memory to the host
    (free page reporting), every fresh page is also a host page fault, and the copy costs more
    CPU than the md5 of the same bytes (measured: a 1 GB copy took 1.8-3.8 s of system time
    buffered and 0.3-0.4 s with ``O_DIRECT``, where md5 needs 1.4 s of one core; the buffered
    copy took 0.3 s only when another copy had just freed its pages; ``bench_core.py --bench
    md5`` prints both copies next to the add). Direct writes wait for the device
    instead of using a core, so hashing threads keep both cores busy. The copy does not fill
    the page cache either (a big dataset does not evict the user's hot files).

    The bytes hashed are exactly the bytes written (one buffer, one read per byte), so the
    digest is that of the copy even if the source changes meanwhile. Each chunk is read into
    one page-aligned buffer; a chunk whose length is not a multiple of 4 KiB (the end of the
    file) is written after turning ``O_DIRECT`` off on the descriptor, as is everything after
    a write the device refuses to take directly.

    Args:
        src: the source, read from its current offset to its end.
        dest: the file to create (must not exist); removed again if anything fails.
        hasher: updated with every byte written.
        mode: permission bits to set once written (e.g. :data:`READ_ONLY`).

    Returns:
        The byte count, or ``None`` when this platform or filesystem offers no ``O_DIRECT``
        (``dest`` is not created then; use a buffered copy).
    """
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return None
    try:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | flag, 0o600)
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
            return None  # e.g. tmpfs
        raise
    in_fd = src.fileno()
    buf = mmap.mmap(-1, _DIRECT_CHUNK)  # page-aligned, as O_DIRECT needs
    view = memoryview(buf)
    direct = True
    size = 0
    try:
        while n := os.readv(in_fd, [buf]):
            part = view[:n]
            hasher.update(part)
            if direct and n % _ALIGN:
                direct = _buffered(fd)
            while part:
                try:
                    written = os.write(fd, part)
                except OSError as exc:
                    if not direct or exc.errno != errno.EINVAL:
                        raise
                    direct = _buffered(fd)  # the device wants another alignment
                    continue
                part = part[written:]
                if direct and written % _ALIGN:
                    direct = _buffered(fd)
            size += n
        if mode is not None:
            os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(dest)
        raise
    os.close(fd)
    return size  # the buffer is unmapped when its last view goes, on return


def _buffered(fd: int) -> bool:
    """Turn ``O_DIRECT`` off on ``fd``; returns ``False`` (the new "direct" state)."""
    import fcntl  # POSIX only, as O_DIRECT is (copy_direct declines before this elsewhere)

    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~getattr(os, "O_DIRECT", 0))
    return False


#: Linux ``ioctl`` request FICLONE (``_IOW(0x94, 9, int)``): make a file share another's
#: extents copy-on-write (btrfs, XFS with reflink, bcachefs, OCFS2; not ext4 or tmpfs)
_FICLONE = 0x40049409
#: ``errno`` values of a FICLONE the filesystem (or the pair of files) cannot do
_NO_CLONE = frozenset(
    n
    for n in (
        errno.EOPNOTSUPP,
        errno.ENOTSUP,
        errno.EXDEV,
        errno.EINVAL,
        errno.ENOTTY,
        errno.EBADF,
        errno.EPERM,
        errno.ENOSYS,
    )
    if n is not None
)


def _reflink(src: BinaryIO, dst: BinaryIO) -> bool:
    """Make ``dst`` (empty, open for writing) a copy-on-write clone of ``src``; ``False`` when
    this platform or filesystem cannot, and ``dst`` is still empty."""
    if not sys.platform.startswith("linux"):
        return False
    import fcntl  # POSIX only

    try:
        fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
    except OSError as exc:
        if exc.errno in _NO_CLONE:
            return False
        raise
    return True


def copy_object(src: str, dest: str) -> str:
    """Place a private, read-only copy of the file ``src`` at ``dest``, atomically.

    A reflink (a copy-on-write clone: no bytes copied, no second gigabyte of disk) where the
    filesystem can make one, else a kernel copy. Never a hard link: a store object and a
    cache file must not be one inode, or damage to the "disposable" cache file would be
    damage to the store's only copy.

    Returns:
        ``"reflink"`` or ``"copy"``: what was done.
    """
    with open(src, "rb") as s, atomic_file(dest, mode=READ_ONLY) as d:
        d.flush()
        if _reflink(s, d):
            return "reflink"
        copy_file(s, d)
    return "copy"


def move_object(src: str, dest: str) -> str:
    """Move the read-only file ``src`` to ``dest`` (replacing it), atomically.

    A rename where both are on one filesystem: the file changes its name in one step, so
    there is never a moment with two names for one inode, even if the process dies. Across
    filesystems: :func:`copy_object`, then ``src`` is removed (a crash in between leaves two
    separate files, never a shared one). The file's times are set to now first (a rename
    keeps the mtime, and ``gc`` must see a just-stored object as young).

    Returns:
        ``"move"``, or what :func:`copy_object` did.
    """
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    st = os.stat(src)
    if stat.S_IMODE(st.st_mode) != READ_ONLY:
        with contextlib.suppress(OSError):
            os.chmod(src, READ_ONLY)
    if max(st.st_mtime, st.st_ctime) < time.time() - 1:  # a just-written file is young already
        with contextlib.suppress(OSError):
            os.utime(src)
    try:
        os.replace(src, dest)
        return "move"
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    how = copy_object(src, dest)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(src)
    return how


def remove_empty_parents(path: str, stop: str) -> None:
    """Remove empty folders from ``path``'s parent up to (not including) ``stop``."""
    parent = os.path.dirname(path)
    stop = os.path.abspath(stop)
    while os.path.abspath(parent).startswith(stop + os.sep):
        try:
            os.rmdir(parent)
        except OSError:
            return
        parent = os.path.dirname(parent)
