"""Names of projects, artifacts, types, aliases and tags, and artifact references.

A name is 1-128 characters of letters, digits, ``_``, ``-`` and ``.`` that does not start with
``.`` (it becomes a folder or file name in the store, where names starting with ``.`` are the
temporary files of writers, which listings skip). Spaces are refused in project, artifact and
alias names, which W&B allows in project names, because they name folders and object keys in
the store; tags, which are only stored as data, may contain single spaces between words as in
W&B (``"needs review"``). Aliases additionally may not be ``latest`` (it is computed, never
stored) nor look like a version number ``v<digits>``; custom version-like aliases such as
``v1.0.0`` or ``v3-prod`` are fine.

Stores written by satchel before that rule may hold names starting with ``.``. Look-ups accept
them (``hidden_ok=True``, which every read path passes), so such versions can still be
read, copied to a valid name and deleted; nothing creates new ones.

A reference string names a version: ``name``, ``name:v3``, ``name:alias``,
``project/name:alias`` or W&B's ``entity/project/name:alias``. A bare name means ``latest``.
satchel has no entities (a store is one namespace), so an entity is accepted and ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from satchel.errors import InvalidNameError

MAX_NAME_LENGTH = 128
LATEST = "latest"
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
_VERSION = re.compile(r"^v(0|[1-9][0-9]*)$")
# W&B's tag rule (words of letters, digits, '_' and '-' separated by spaces), plus '.'
_TAG = re.compile(r"^[-\w.]+( +[-\w.]+)*$")


def validate_name(value: str, *, kind: str = "artifact name", hidden_ok: bool = False) -> str:
    """Return ``value`` if it is a valid name, else raise.

    Args:
        value: the name to check.
        kind: what the name is for, used in the error message ("project", "type", ...).
        hidden_ok: accept a leading ``.`` (only to look up what an older satchel wrote;
            never for a name that is about to become a store key).

    Raises:
        InvalidNameError: the name is empty, too long, has characters outside letters,
            digits, ``_``, ``-`` and ``.``, or starts with ``.``.
    """
    if not isinstance(value, str):
        raise InvalidNameError(f"{kind} must be a str, got {type(value).__name__}")
    if not value:
        raise InvalidNameError(f"{kind} is empty; give 1-{MAX_NAME_LENGTH} characters")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidNameError(
            f"{kind} {value[:40]!r}... is {len(value)} characters long; "
            f"the limit is {MAX_NAME_LENGTH}"
        )
    if not _NAME.match(value):
        if " " in value and _NAME.match(value.replace(" ", "_")):  # only the spaces are wrong
            raise InvalidNameError(
                f"{kind} {value!r} contains a space; satchel names become folder and object "
                "names in the store, so use '-' or '_' instead"
            )
        raise InvalidNameError(
            f"{kind} {value!r} is not valid: use only letters, digits, '_', '-' and '.'"
        )
    if set(value) == {"."}:
        raise InvalidNameError(f"{kind} {value!r} is not valid: it may not consist of dots only")
    if value.startswith(".") and not hidden_ok:
        raise InvalidNameError(
            f"{kind} {value!r} is not valid: it may not start with '.' (in the store such names "
            "look like temporary files, which listings, fsck and gc skip); start it with a "
            "letter, digit, '_' or '-'"
        )
    # a plain str: the str subclasses satchel hands out (Api.project, ArtifactType, Project)
    # must not reach records, which only encode str itself
    return str(value)


def validate_alias(value: str) -> str:
    """Return ``value`` if it can be assigned as an alias, else raise.

    Raises:
        InvalidNameError: invalid characters, ``latest``, or a version-number form ``v<digits>``.
    """
    validate_name(value, kind="alias")
    if value == LATEST:
        raise InvalidNameError(
            "alias 'latest' is computed (it always names the newest version) and cannot be "
            "assigned; use another alias, such as 'best' or 'prod'"
        )
    if _VERSION.match(value) or re.fullmatch(r"v[0-9]+", value):
        raise InvalidNameError(
            f"alias {value!r} looks like a version number; version numbers are assigned by "
            "satchel. Use another alias, such as 'v1.0.0' or 'prod'"
        )
    return str(value)


def validate_tag(value: str, *, hidden_ok: bool = False) -> str:
    """Return ``value`` if it is a valid tag, else raise :class:`InvalidNameError`.

    A tag is 1-128 characters: words of letters, digits, ``_``, ``-`` and ``.`` separated by
    spaces (W&B's rule, which also allows the spaces), not dots only and, like every name,
    not starting with ``.`` (``hidden_ok``: look-ups accept that, as for names).
    """
    if not isinstance(value, str):
        raise InvalidNameError(f"tag must be a str, got {type(value).__name__}")
    if (
        not value
        or len(value) > MAX_NAME_LENGTH
        or not _TAG.match(value)
        or set(value) == {"."}
        or (value.startswith(".") and not hidden_ok)
    ):
        if value.startswith(".") and not hidden_ok:
            return validate_name(value, kind="tag")  # raises, saying why
        if value and len(value) <= MAX_NAME_LENGTH and _TAG.match(value.strip()):
            raise InvalidNameError(f"tag {value!r} starts or ends with a space; remove it")
        return validate_name(value, kind="tag")  # raises, naming what is wrong
    return str(value)


def parse_version(value: str) -> int | None:
    """Return ``n`` for ``"v<n>"``, or ``None`` if ``value`` is not a version string."""
    m = _VERSION.match(value)
    return int(m.group(1)) if m else None


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """A parsed reference to an artifact version.

    Attributes:
        project: the project, or ``None`` to use the configured one.
        name: the artifact (collection) name.
        selector: ``"latest"``, ``"v<n>"`` or an alias.
        entity: the W&B entity of an ``entity/project/name`` reference (ignored), or ``None``.
    """

    project: str | None
    name: str
    selector: str = LATEST
    entity: str | None = None

    @property
    def version(self) -> int | None:
        """The version number when the selector is ``v<n>``, else ``None``."""
        return parse_version(self.selector)

    def __str__(self) -> str:
        head = f"{self.project}/{self.name}" if self.project else self.name
        return f"{head}:{self.selector}"


def parse_ref(ref: str, *, project: str | None = None, hidden_ok: bool = False) -> ArtifactRef:
    """Parse ``[[entity/]project/]name[:version|:alias]`` (the entity is kept, not used).

    Args:
        ref: the reference string.
        project: project used when ``ref`` names none.
        hidden_ok: accept parts that start with ``.`` (look-ups of what an older satchel
            wrote; see the module docstring).

    Raises:
        InvalidNameError: malformed reference or invalid parts.
    """
    if not isinstance(ref, str) or not ref:
        raise InvalidNameError(
            "artifact reference is empty; use 'name', 'name:v3' or 'project/name:alias'"
        )
    head, sep, selector = ref.partition(":")
    if sep and not selector:
        raise InvalidNameError(f"artifact reference {ref!r} ends with ':'; add a version or alias")
    parts = head.split("/")
    entity = None
    if len(parts) == 1:
        proj, name = project, parts[0]
    elif len(parts) == 2:
        proj, name = parts
    elif len(parts) == 3:
        entity, proj, name = parts
        if not entity:
            raise InvalidNameError(
                f"artifact reference {ref!r} has an empty entity; use 'project/name:alias'"
            )
    else:
        raise InvalidNameError(
            f"artifact reference {ref!r} has too many '/'; use 'project/name:alias' "
            "(or W&B's 'entity/project/name:alias')"
        )
    if proj is not None:
        proj = validate_name(proj, kind="project", hidden_ok=hidden_ok)
    name = validate_name(name, hidden_ok=hidden_ok)
    sel = selector or LATEST
    if sel != LATEST and parse_version(sel) is None:
        validate_name(sel, kind="alias", hidden_ok=hidden_ok)
    return ArtifactRef(proj, name, sel, entity)
