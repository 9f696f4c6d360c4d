"""Folders satchel must never delete, overwrite or version, and the checks that keep them safe.

Every comparison is made on real paths (``~`` expanded, made absolute, symbolic links
resolved) and, where the folders exist, on their identity (device and inode), so a relative
path, a symbolic link, a bind mount or another spelling of the same folder is caught too.

==========================  =========================  ================  =====================
folder                      ``checkout`` refuses a     ``download``      ``add_dir`` of a
                            root that is ...           refuses a root    folder holding it
==========================  =========================  ================  =====================
a satchel store or cache    it, inside it, or above    it, inside it,    skips it (warns); a
                            it                         or above it when  root that is it or
                                                       a file would      inside it is refused
                                                       land in it
home folder                 it, or above it            -                 -
filesystem root (``/``)     it                         -                 -
working directory           above it (``.`` is fine)   -                 -
``artifacts/<name>-v<N>``   -                          -                 skips it (warns)
==========================  =========================  ================  =====================

*Satchel stores and caches* are the store being read or written (when local), the configured
store (``SATCHEL_STORE``, when local) and cache (``SATCHEL_CACHE_DIR``), the cache in use, and
satchel's default store and cache folders when they exist. ``artifacts/<name>-v<N>`` (below
the working directory) is where ``download()`` puts the versions of the artifact being added
by default; adding it again would nest every version inside the next one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from satchel import settings
from satchel.errors import ProtectedFolderError

STORE = "satchel store"
CACHE = "satchel cache"
HOME = "home folder"
FS_ROOT = "filesystem root"
WORKDIR = "working directory"
DOWNLOAD = "default download folder"


@dataclass(frozen=True, slots=True)
class Protected:
    """A folder satchel protects.

    Attributes:
        path: its real path.
        role: what it is (:data:`STORE`, :data:`CACHE`, :data:`HOME`, ...).
    """

    path: str
    role: str


def real(path: str | os.PathLike[str]) -> str:
    """``path`` with ``~`` expanded, absolute, symbolic links resolved (it need not exist)."""
    return os.path.realpath(os.path.abspath(os.path.expanduser(os.fspath(path))))


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _lineage(path: str) -> list[str]:
    """``path`` and every folder above it, nearest first."""
    out = [path]
    while (parent := os.path.dirname(out[-1])) != out[-1]:
        out.append(parent)
    return out


def _below(path: str, folder: str) -> bool:
    """Whether real path ``path`` is ``folder`` or below it (by path, else by identity)."""
    if path == folder or path.startswith(folder.rstrip(os.sep) + os.sep):
        return True
    want = _identity(folder)
    return want is not None and any(_identity(p) == want for p in _lineage(path))


def relation(root: str, folder: str) -> str | None:
    """How real path ``root`` stands to real path ``folder``: ``"is"``, ``"inside"`` (root is
    below folder), ``"holds"`` (folder is below root) or ``None``."""
    if _below(root, folder):
        same = root == folder or (
            _identity(root) is not None and _identity(root) == _identity(folder)
        )
        return "is" if same else "inside"
    if _below(folder, root):
        return "holds"
    return None


def _local_root(store: object) -> str | None:
    from satchel.store import Store
    from satchel.store.local import LocalBackend

    if isinstance(store, Store) and isinstance(store.backend, LocalBackend):
        return store.backend.root
    if isinstance(store, str) and settings.is_local_url(store):
        return settings.store_url(store).removeprefix("file://")
    return None


def satchel_folders(cache_root: str, stores: Iterable[object] = ()) -> list[Protected]:
    """The satchel stores and caches to protect (see the module docstring).

    Args:
        cache_root: the cache in use.
        stores: the stores in use (:class:`~satchel.store.Store` objects or URLs; others and
            ``None`` are ignored; bucket stores have no local folder).
    """
    found: list[Protected] = []
    seen: set[str] = set()

    def add(path: str | None, role: str, *, if_exists: bool = False) -> None:
        if path is None:
            return
        path = real(path)
        if path in seen or (if_exists and not os.path.isdir(path)):
            return
        seen.add(path)
        found.append(Protected(path, role))

    for store in [*stores, settings.store_url()]:
        add(_local_root(store), STORE)
    add(cache_root, CACHE)
    add(settings.cache_dir(), CACHE)
    add(settings.default_store_path(), STORE, if_exists=True)
    add(settings.default_cache_dir(), CACHE, if_exists=True)
    return found


def _home() -> str | None:
    home = os.path.expanduser("~")
    return real(home) if os.path.isabs(home) else None


_RELATION = {
    "is": "is the {role} {path}",
    "inside": "is inside the {role} {path}",
    "holds": "holds the {role} {path}",
}


def _refuse(message: str, folder: str, hit: Protected) -> ProtectedFolderError:
    return ProtectedFolderError(message, folder=folder, protected=hit.path, role=hit.role)


def check_checkout_root(root: str, folders: Sequence[Protected], what: str) -> None:
    """Refuse a checkout root that would delete a protected folder or run wild.

    Args:
        root: the folder to check out into.
        folders: the satchel stores and caches (:func:`satchel_folders`).
        what: the artifact, for the message (``"default/ds:v0"``).

    Raises:
        ProtectedFolderError: ``root`` is, is inside or holds a store or cache; is or holds
            the home folder; is a filesystem root; or holds the working directory.
    """
    path = real(root)
    hits: list[tuple[Protected, str]] = []  # the most telling reason first
    if os.path.dirname(path) == path:
        hits.append((Protected(path, FS_ROOT), "is"))
    home = _home()
    if home is not None and (rel := relation(path, home)) in ("is", "holds"):
        hits.append((Protected(home, HOME), rel or "is"))
    for folder in folders:
        if (rel := relation(path, folder.path)) is not None:
            hits.append((folder, rel))
    try:
        cwd: str | None = real(os.getcwd())
    except FileNotFoundError:  # the working directory was deleted: nothing to hold
        cwd = None
    if cwd is not None and relation(path, cwd) == "holds":
        hits.append((Protected(cwd, WORKDIR), "holds"))
    if not hits:
        return
    hit, rel = hits[0]
    if hit.role == FS_ROOT:
        why = "is a filesystem root"
    elif hit.role == HOME:
        why = "is your home folder" if rel == "is" else f"holds your home folder {hit.path}"
    elif hit.role == WORKDIR:
        why = f"holds the working directory {hit.path}"
    else:
        why = _RELATION[rel].format(role=hit.role, path=hit.path)
    raise _refuse(
        f"refusing to check out {what} into {path}: that folder {why}, and checkout deletes "
        "every file there that the version does not list. Nothing was changed; check out "
        "into a folder of its own (a new or empty one, or one holding only this artifact)",
        path,
        hit,
    )


def check_download_root(
    root: str, folders: Sequence[Protected], logical: Iterable[str], what: str
) -> None:
    """Refuse a download that would write into a satchel store or cache.

    Args:
        root: the folder to download into.
        folders: the satchel stores and caches (:func:`satchel_folders`).
        logical: the logical paths the download writes.
        what: the artifact, for the message.

    Raises:
        ProtectedFolderError: ``root`` is or is inside a store or cache, or holds one and a
            file of the version would be written inside it.
    """
    path = real(root)
    below: list[tuple[Protected, str]] = []
    for folder in folders:
        rel = relation(path, folder.path)
        if rel in ("is", "inside"):
            raise _refuse(
                f"refusing to download {what} into {path}: that folder "
                f"{_RELATION[rel].format(role=folder.role, path=folder.path)}, whose files "
                "satchel manages. Nothing was written; download into a folder outside "
                "satchel's stores and caches",
                path,
                folder,
            )
        if rel == "holds":
            below.append((folder, os.path.relpath(folder.path, path).replace(os.sep, "/")))
    if not below:
        return
    for name in logical:
        for folder, prefix in below:
            if name == prefix or name.startswith(prefix + "/"):
                raise _refuse(
                    f"refusing to download {what} into {path}: its file {name} would be "
                    f"written inside the {folder.role} {folder.path}. Nothing was written; "
                    "download into another folder",
                    path,
                    folder,
                )


def download_folders(name: str, cwd: str | None = None) -> list[Protected]:
    """The default download folders ``<cwd>/artifacts/<name>-v<N>`` of artifact ``name``
    that exist."""
    base = os.path.join(cwd or os.getcwd(), "artifacts")
    pattern = re.compile(re.escape(name) + r"-v\d+")
    try:
        names = os.listdir(base)
    except OSError:
        return []
    return [
        Protected(real(os.path.join(base, n)), DOWNLOAD)
        for n in sorted(names)
        if pattern.fullmatch(n) and os.path.isdir(os.path.join(base, n))
    ]


def check_source_root(root: str, folders: Sequence[Protected], what: str) -> None:
    """Refuse to add a folder that is, or is inside, a satchel store or cache.

    Raises:
        ProtectedFolderError: naming the store or cache.
    """
    path = real(root)
    for folder in folders:
        if folder.role not in (STORE, CACHE):
            continue
        rel = relation(path, folder.path)
        if rel in ("is", "inside"):
            raise _refuse(
                f"refusing to add {path} to {what}: that folder "
                f"{_RELATION[rel].format(role=folder.role, path=folder.path)}, which satchel "
                "does not version (it changes with every commit). Nothing was added; add the "
                "folder that holds your data",
                path,
                folder,
            )


def skipped_message(path: str, hit: Protected, root: str, what: str) -> str:
    """The warning for a folder ``add_dir`` skipped."""
    where = "" if os.path.abspath(path) == hit.path else f" {hit.path}"
    why = (
        f" (download() puts the versions of {what} there; adding it would nest each version "
        "inside the next)"
        if hit.role == DOWNLOAD
        else ", which satchel does not version (it changes with every commit)"
    )
    return (
        f"skipped {path} while adding {os.path.abspath(root)} to {what}: it is the "
        f"{hit.role}{where}{why}"
    )


class Pruner:
    """Decides which sub-folders a scan of an added folder skips, and remembers them.

    A folder is matched by identity (device and inode, for folders that exist now: a link or
    bind mount is caught) and by path (for one created while the scan runs, as the cache can
    be: the scan's paths start with the root as given, so the real paths are mapped onto it).

    Args:
        root: the folder being scanned.
        folders: the folders to skip wherever they appear below it.
    """

    def __init__(self, root: str, folders: Sequence[Protected]) -> None:
        self._by_id: dict[tuple[int, int], Protected] = {}
        self._by_path: dict[str, Protected] = {}
        given, actual = os.path.abspath(root), real(root)
        for folder in folders:
            ident = _identity(folder.path)
            if ident is not None:
                self._by_id.setdefault(ident, folder)
            if folder.path.startswith(actual.rstrip(os.sep) + os.sep):
                rel = os.path.relpath(folder.path, actual)
                self._by_path.setdefault(os.path.join(given, rel), folder)
        #: ``(path found by the scan, protected folder)`` for every folder skipped
        self.skipped: list[tuple[str, Protected]] = []

    def __bool__(self) -> bool:
        return bool(self._by_id or self._by_path)

    def __call__(self, path: str, st: os.stat_result) -> bool:
        """Whether the scan skips the folder at ``path`` (``st``: its stat)."""
        hit = self._by_id.get((st.st_dev, st.st_ino)) or self._by_path.get(path)
        if hit is None:
            return False
        self.skipped.append((path, hit))
        return True
