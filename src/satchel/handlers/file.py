"""``file://`` references: files and folders on a local or mounted disk.

An entry records the file's base64 MD5 and size (hashed in parallel, stat cache reused). A
download copies the file into the cache while hashing it; a file that changed or vanished
since it was recorded raises :class:`ReferenceChangedError` / :class:`ReferenceNotFoundError`
(local files keep no old versions).

``checksum=False`` records what W&B 0.31 records, bit for bit: one entry per file (a folder is
listed, nothing is read), with its size and, as digest, the base64 MD5 of the file's resolved
``file://`` URI (``Path(path).resolve().as_uri()``), so the artifact digest equals W&B's. Such
an entry is recognised on download by that digest and copied as the file is now, unverified
(W&B cannot download these at all). Entries written by satchel before this rule (one entry
for the URI, digest = the URI, no size) still download: a folder one fetches the folder's
files as they are now.

Refs are proper ``file://`` URIs (percent-encoded); W&B joins the URI it was given with the
raw relative path, which reads back the same except for names with ``%``, ``#`` or ``?``.
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

from satchel import paths
from satchel.errors import (
    DigestMismatchError,
    InvalidPathError,
    ReferenceChangedError,
    ReferenceNotFoundError,
    SkippedFilesWarning,
    TooManyObjectsError,
)
from satchel.handlers.base import HandlerContext
from satchel.hashing import MD5, hash_bytes
from satchel.ingest.tree import LocalFile, digest_files, scan, skipped_message, stat_file
from satchel.manifest import ManifestEntry
from satchel.paths import printable


def uri_to_path(uri: str) -> str:
    """The local path of a ``file://`` URI.

    Raises:
        InvalidPathError: a URI with a remote host.
    """
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise InvalidPathError(
            f"file URI {uri!r} names host {parts.netloc!r}; use file:///absolute/path"
        )
    return unquote(parts.path)


def path_to_uri(path: str) -> str:
    """The ``file://`` URI of an absolute local path."""
    from pathlib import Path

    return Path(path).absolute().as_uri()


def path_digest(path: str) -> str:
    """W&B's ``checksum=False`` digest of a local file: the base64 MD5 of its resolved
    ``file://`` URI (symbolic links followed)."""
    from pathlib import Path

    return hash_bytes(Path(path).resolve().as_uri().encode("utf-8"))


def is_unchecked(entry: ManifestEntry) -> bool:
    """Whether a ``file://`` entry was recorded with ``checksum=False`` (either form)."""
    if entry.size is None and entry.digest == entry.ref:  # satchel's earlier form
        return True
    assert entry.ref is not None
    try:
        local = uri_to_path(entry.ref)
    except InvalidPathError:
        return False
    if entry.digest == hash_bytes(path_to_uri(local).encode("utf-8")):
        return True
    return os.path.lexists(local) and entry.digest == path_digest(local)


class FileHandler:
    """Handler for ``file://`` URIs."""

    def __init__(self, context: HandlerContext) -> None:
        """Use ``context.cache`` for downloads and its stat cache for hashing."""
        self.context = context

    def entries(
        self, uri: str, *, name: str | None, checksum: bool, max_objects: int
    ) -> list[ManifestEntry]:
        """Entries for a file, or for every file below a folder (see module docstring)."""
        local = uri_to_path(uri)
        if not checksum:
            return self._unchecked(uri, local, name, max_objects)
        if os.path.isfile(local) and not uri.endswith("/"):
            f = stat_file(local)
            digest = digest_files([f], MD5, self.context.cache.stat_cache)[0]
            logical = paths.normalize(name or os.path.basename(local))
            return [ManifestEntry(logical, digest, f.size, path_to_uri(local))]
        if not os.path.isdir(local):
            raise ReferenceNotFoundError(f"reference {uri} does not exist (no file or folder)")
        skipped: list[tuple[str, str]] = []
        files = scan(local, skipped=skipped)
        if skipped:
            self.context.warn(
                SkippedFilesWarning(
                    skipped_message(local, skipped, f"add_reference({printable(uri)!r})"),
                    folder=local,
                    skipped=skipped,
                )
            )
        if len(files) > max_objects:
            raise TooManyObjectsError(
                f"{uri} holds {len(files)} files, more than max_objects={max_objects}; "
                "raise max_objects or reference a smaller folder"
            )
        digests = digest_files(files, MD5, self.context.cache.stat_cache)
        return [
            ManifestEntry(paths.join(name, f.rel), d, f.size, path_to_uri(f.abspath))
            for f, d in zip(files, digests)
        ]

    def _unchecked(
        self, uri: str, local: str, name: str | None, max_objects: int
    ) -> list[ManifestEntry]:
        """W&B's ``checksum=False`` entries (see the module docstring)."""
        if os.path.isfile(local) and not uri.endswith("/"):
            logical = paths.normalize(name or os.path.basename(local))
            return [
                ManifestEntry(
                    logical, path_digest(local), os.path.getsize(local), path_to_uri(local)
                )
            ]
        if not os.path.isdir(local):
            raise ReferenceNotFoundError(f"reference {uri} does not exist (no file or folder)")
        files = scan(local)
        if len(files) > max_objects:
            raise TooManyObjectsError(
                f"{uri} holds {len(files)} files, more than max_objects={max_objects}; "
                "raise max_objects or reference a smaller folder"
            )
        return [
            ManifestEntry(
                paths.join(name, f.rel), path_digest(f.abspath), f.size, path_to_uri(f.abspath)
            )
            for f in files
        ]

    def load(self, entry: ManifestEntry, dest_root: str | None = None) -> list[tuple[str, str]]:
        """Copy the referenced file(s) into the cache, verifying recorded digests."""
        assert entry.ref is not None
        local = uri_to_path(entry.ref)
        cache = self.context.cache
        if is_unchecked(entry):
            if os.path.isdir(local):
                found: list[LocalFile] = scan(local)
            elif os.path.isfile(local):
                found = [stat_file(local)]
                found = [LocalFile("", found[0].abspath, found[0].key)]
            else:
                raise ReferenceNotFoundError(f"reference {entry.ref} no longer exists")
            self.context.warn(f"{entry.path}: {entry.ref} has no recorded checksum; not verified")
            out = []
            for f in found:
                _digest, _size, cpath = cache.add_file(f.abspath, alg=MD5)
                out.append((f.rel, cpath))
            return out
        dest = cache.ref_path(entry.ref, entry.digest)
        if os.path.exists(dest) and os.path.getsize(dest) == entry.size:
            return [("", dest)]
        try:
            src = open(local, "rb")  # noqa: SIM115 - closed by the with block below
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise ReferenceNotFoundError(
                f"reference {entry.ref} (entry {entry.path}) no longer exists"
            ) from exc
        with src:
            try:
                cache.put_stream(src, dest, alg=MD5, expected_digest=entry.digest, what=entry.ref)
            except DigestMismatchError as exc:
                raise ReferenceChangedError(
                    f"reference {entry.ref} (entry {entry.path}) changed since it was recorded: "
                    f"{exc}. Local files keep no old versions; re-add the reference"
                ) from exc
        return [("", dest)]

    def content_digest(self, entry: ManifestEntry) -> tuple[str, str] | None:
        """The recorded MD5 (``None`` for ``checksum=False`` entries)."""
        if is_unchecked(entry):
            return None
        return (MD5, entry.digest)
