"""Logical paths: the POSIX paths of files inside an artifact.

A logical path is relative, uses ``/``, and is normalised: ``./a/./b`` becomes ``a/b`` and
``a//b`` becomes ``a/b``. It may not be empty, absolute (``/x``), climb (``..``), carry a drive
letter at the start of any segment (``C:x``, ``a/C:x``), a backslash, a NUL byte or a line
break (a line break would make the manifest digest ambiguous). The same rules run when a user
adds a file and again when a stored manifest is loaded, so a tampered manifest can never make a
download write outside its root.

Control characters (C0 such as tab or escape, DEL, and C1) are refused when a file is *added*:
printed raw, a name holding one could forge output lines or drive a terminal. Manifests that
already hold such names (committed by an older satchel, or read from W&B) still load and can
be looked up (``stored=True``), and everything that prints a path escapes them with
:func:`printable`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from satchel.errors import InvalidPathError

# A drive letter starting any segment: Windows' os.path.join("root", "a", "C:x") gives "C:x".
_DRIVE = re.compile(r"(?:^|/)[A-Za-z]:")
#: C0 controls, DEL and C1 controls (refused in new logical paths, escaped by printable)
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NEW_BAD = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")  # "\n" joins paths in validate_many
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
# One pass over all paths joined by "\n" finds any non-canonical one (see validate_many).
_BAD_CANONICAL = re.compile(r"(?m)(?:^|/)\.{1,2}(?:/|$)|//|^/|/$|^$|\x00|\\|\r|(?:^|/)[A-Za-z]:")


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\t``, ``\\x1b``, ...), so a
    file name printed with it can never start a new output line or drive the terminal. Text
    without control characters comes back unchanged; in text with some, backslashes are
    doubled too, so the escaped form is unambiguous."""
    if not CONTROL.search(text):
        return text
    return re.sub(
        r"[\x00-\x1f\x7f-\x9f\\]",
        lambda m: _ESCAPES.get(m.group(), f"\\x{ord(m.group()):02x}"),
        text,
    )


def normalize(path: str, *, stored: bool = False) -> str:
    """Return the canonical form of a user-given logical path.

    Args:
        path: a relative POSIX path such as ``"./images/cat.png"``.
        stored: the path names an entry that may already be stored (a look-up): control
            characters other than NUL and line breaks are accepted, as loading accepts them.

    Returns:
        The normalised path (``"images/cat.png"``).

    Raises:
        InvalidPathError: the path is empty, absolute, climbs with ``..``, has a drive letter,
            a backslash, a NUL byte or a line break, or (unless ``stored``) another control
            character.
    """
    if not isinstance(path, str):
        raise InvalidPathError(f"logical path must be a str, got {type(path).__name__}")
    if "\x00" in path:
        raise InvalidPathError(f"logical path {path!r} contains a NUL byte; rename the file")
    if "\n" in path or "\r" in path:
        raise InvalidPathError(f"logical path {path!r} contains a line break; rename the file")
    if not stored and (bad := CONTROL.search(path)):
        raise InvalidPathError(
            f"logical path {path!r} contains the control character U+{ord(bad.group()):04X}; "
            "rename the file (control characters are refused in new paths)"
        )
    if "\\" in path:
        raise InvalidPathError(
            f"logical path {path!r} contains a backslash; use '/' to separate folders"
        )
    if path.startswith("/"):
        raise InvalidPathError(
            f"logical path {path!r} is absolute; give a path relative to the artifact root"
        )
    if _DRIVE.search(path):
        raise InvalidPathError(
            f"logical path {path!r} has a drive letter; give a path relative to the artifact root"
        )
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidPathError(
            f"logical path {path!r} contains '..'; paths may not leave the artifact root"
        )
    if not parts:
        raise InvalidPathError(f"logical path {path!r} is empty; name the file")
    return "/".join(parts)


def is_canonical(path: str, *, stored: bool = True) -> bool:
    """Tell whether ``path`` is already a valid, normalised logical path (``stored``: as
    loading checks it; ``False``: as adding a file does, without control characters)."""
    try:
        return normalize(path, stored=stored) == path
    except InvalidPathError:
        return False


def validate_many(paths: Iterable[str], *, stored: bool = True) -> None:
    """Check that every path is a valid, normalised logical path, quickly.

    Used when loading stored manifests (a million paths in well under a second), and with
    ``stored=False`` when a folder is added (control characters refused too).

    Raises:
        InvalidPathError: naming the first bad path.
    """
    items = paths if isinstance(paths, list) else list(paths)
    if not items:
        return
    try:
        joined = "\n".join(items)  # a non-str fails here, without a loop over every path
    except TypeError:
        bad = next(p for p in items if not isinstance(p, str))
        raise InvalidPathError(f"logical path must be a str, got {type(bad).__name__}") from None
    if (
        joined.count("\n") == len(items) - 1
        and not _maybe_bad(joined)
        and (stored or not _NEW_BAD.search(joined))
    ):
        return
    for p in items:
        if not is_canonical(p, stored=stored):
            normalize(p, stored=stored)  # raises with the precise reason
            raise InvalidPathError(
                f"logical path {p!r} is not normalised (expected {normalize(p)!r})"
            )


def _maybe_bad(joined: str) -> bool:
    """Whether ``_BAD_CANONICAL`` could match ``joined`` (one path per line).

    The regex costs ~70 ns per character; plain substring tests run at memory speed. Every
    alternative of the regex needs one of these substrings, so when none occurs (the usual
    case) the regex is skipped; otherwise it decides.
    """
    if not joined or "\x00" in joined or "\\" in joined or "\r" in joined:
        return True
    # With line breaks turned into "/", every path boundary is a "/": an empty path or
    # segment shows as "//" (or a "/" at either end), a dot segment as "/." (or a "." first).
    slashed = joined.replace("\n", "/")
    if (
        slashed[0] in "/."
        or slashed[-1] == "/"
        or "//" in slashed
        or "/." in slashed
        or (":" in joined)
    ):
        return _BAD_CANONICAL.search(joined) is not None
    return False


def join(prefix: str | None, rest: str) -> str:
    """Join an optional logical prefix and a relative path, then normalise."""
    return normalize(f"{prefix}/{rest}" if prefix else rest)


def is_under(path: str, folder: str) -> bool:
    """Tell whether logical ``path`` is ``folder`` itself or lies below it."""
    return path == folder or path.startswith(folder + "/")
