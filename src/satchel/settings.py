"""Configuration: arguments win, then the environment, then defaults. Nothing is read at import.

=====================  ==========================  ===========================================
setting                environment variable        default
=====================  ==========================  ===========================================
store URL              ``SATCHEL_STORE``           ``<user data dir>/satchel/store``
project                ``SATCHEL_PROJECT``         ``default`` (``WANDB_PROJECT`` too)
cache folder           ``SATCHEL_CACHE_DIR``       ``<user cache dir>/satchel``
progress bars          ``SATCHEL_NO_PROGRESS=1``   shown when stderr is a terminal
storage options (JSON) ``SATCHEL_STORAGE_OPTIONS`` ``{}`` (per scheme: ``{"s3": {...}}``)
download folder        ``SATCHEL_ARTIFACT_DIR``    ``./artifacts`` (``WANDB_ARTIFACT_DIR`` too)
entity (W&B)           ``SATCHEL_ENTITY``          the OS user name (``WANDB_ENTITY`` too)
=====================  ==========================  ===========================================

``<user data dir>`` and ``<user cache dir>`` are the platform's (``~/.local/share`` and
``~/.cache`` on Linux, via platformdirs).

A local store path and the cache folder come back absolute (``~`` expanded). A relative value
given as an argument is resolved against the working directory of that call; a relative
``SATCHEL_STORE`` / ``SATCHEL_CACHE_DIR`` is resolved the first time this process reads it and
that folder is kept while the variable holds the same text, so an ``os.chdir`` later never
moves the store or the cache.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from satchel import naming
from satchel.errors import ConfigError

DEFAULT_PROJECT = "default"


def _env(name: str, env: Mapping[str, str] | None) -> str | None:
    value = (os.environ if env is None else env).get(name)
    return value or None


def is_local_url(url: str) -> bool:
    """Whether a store URL names a local folder (a path, ``file://``, or ``C:\\...``)."""
    if "://" not in url:
        return True
    scheme = url.split("://", 1)[0]
    return scheme == "file" or (len(scheme) == 1 and url[1] == ":")


def _absolute(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


def _local_absolute(url: str) -> str:
    """A local store URL made absolute (``file://`` kept); other URLs unchanged."""
    if not is_local_url(url):
        return url
    if url.startswith("file://"):
        return "file://" + _absolute(url[len("file://") :])
    return _absolute(url)


def _from_env(
    name: str, value: str, env: Mapping[str, str] | None, resolve: Callable[[str], str]
) -> str:
    """``resolve(value)``, computed once per process for the process environment: a relative
    path keeps meaning the folder it named when first read, whatever ``chdir`` came later."""
    if env is not None:
        return resolve(value)
    return settings().resolved.setdefault((name, value), resolve(value))


def default_store_path() -> str:
    """satchel's default local store: ``<user data dir>/satchel/store``."""
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("satchel", appauthor=False), "store")


def default_cache_dir() -> str:
    """satchel's default cache folder: ``<user cache dir>/satchel``."""
    import platformdirs

    return platformdirs.user_cache_dir("satchel", appauthor=False)


def store_url(explicit: str | None = None, *, env: Mapping[str, str] | None = None) -> str:
    """The store URL: ``explicit``, else ``$SATCHEL_STORE``, else the user data folder.

    A local path comes back absolute (see the module docstring for when it is resolved).
    """
    if explicit:
        return _local_absolute(str(explicit))
    value = _env("SATCHEL_STORE", env)
    if value:
        return _from_env("SATCHEL_STORE", value, env, _local_absolute)
    return default_store_path()


def project(explicit: str | None = None, *, env: Mapping[str, str] | None = None) -> str:
    """The project: ``explicit``, else ``$SATCHEL_PROJECT``, else W&B's ``$WANDB_PROJECT`` (so a
    ported program's setting keeps working), else ``default`` (validated).

    A leading ``.`` (which an older satchel allowed) passes here, so such a project can still
    be read; the store refuses to create anything in it (:meth:`Store.ensure_collection`).
    """
    value = (
        explicit or _env("SATCHEL_PROJECT", env) or _env("WANDB_PROJECT", env) or DEFAULT_PROJECT
    )
    return naming.validate_name(value, kind="project", hidden_ok=True)


def cache_dir(explicit: str | None = None, *, env: Mapping[str, str] | None = None) -> str:
    """The cache folder: ``explicit``, else ``$SATCHEL_CACHE_DIR``, else the user cache dir
    (always absolute; see the module docstring for when a relative one is resolved)."""
    if explicit:
        return _absolute(explicit)
    value = _env("SATCHEL_CACHE_DIR", env)
    if value:
        return _from_env("SATCHEL_CACHE_DIR", value, env, _absolute)
    return default_cache_dir()


def artifact_dir(*, env: Mapping[str, str] | None = None) -> str:
    """The folder default downloads go below (absolute): ``$SATCHEL_ARTIFACT_DIR``, else W&B's
    ``$WANDB_ARTIFACT_DIR`` (so a ported program's setting keeps working), else
    ``./artifacts``."""
    value = _env("SATCHEL_ARTIFACT_DIR", env) or _env("WANDB_ARTIFACT_DIR", env) or "artifacts"
    return os.path.abspath(os.path.expanduser(value))


def entity(*, env: Mapping[str, str] | None = None) -> str:
    """The W&B entity satchel reports (``artifact.entity``; satchel has no entities):
    ``$SATCHEL_ENTITY``, else ``$WANDB_ENTITY``, else the OS user name.

    Raises:
        ConfigError: the value has a ``/`` or ``:`` (it could not be part of a path).
    """
    value = _env("SATCHEL_ENTITY", env) or _env("WANDB_ENTITY", env)
    if value is None:
        import getpass

        try:
            value = getpass.getuser()
        except Exception:  # noqa: BLE001 - no user name in some containers
            value = "satchel"
        return value.replace("/", "-").replace(":", "-") or "satchel"
    if "/" in value or ":" in value:
        raise ConfigError(
            f"entity {value!r} (SATCHEL_ENTITY / WANDB_ENTITY) may not contain '/' or ':'"
        )
    return value


def show_progress(*, env: Mapping[str, str] | None = None) -> bool:
    """Whether progress bars are shown: not with ``SATCHEL_NO_PROGRESS=1``, else on a tty."""
    if (_env("SATCHEL_NO_PROGRESS", env) or "0").lower() not in ("0", "false", "no"):
        return False
    return sys.stderr.isatty()


def storage_options(env: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Per-scheme fsspec options from ``$SATCHEL_STORAGE_OPTIONS`` (JSON object).

    Raises:
        ConfigError: the variable is not a JSON object of objects.
    """
    raw = _env("SATCHEL_STORAGE_OPTIONS", env)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"SATCHEL_STORAGE_OPTIONS is not valid JSON: {exc}") from exc
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ConfigError(
            'SATCHEL_STORAGE_OPTIONS must be a JSON object like {"s3": {"anon": true}}'
        )
    return value


@dataclass
class Settings:
    """Process-wide settings changed with :func:`satchel.configure` (explicit, not global state
    read at import: the default instance is created on first use)."""

    storage_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: ``(variable, value) -> absolute path``: relative paths from the environment, resolved
    #: once (see :func:`store_url`)
    resolved: dict[tuple[str, str], str] = field(default_factory=dict)

    def options_for(self, scheme: str) -> dict[str, Any]:
        """fsspec options for ``scheme``: environment first, then :func:`configure` values."""
        merged = dict(storage_options().get(scheme, {}))
        merged.update(self.storage_options.get(scheme, {}))
        return merged


_SETTINGS: list[Settings] = []


def settings() -> Settings:
    """The process's :class:`Settings` (created on first call)."""
    if not _SETTINGS:
        _SETTINGS.append(Settings())
    return _SETTINGS[0]


def configure(*, storage_options: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """Set process-wide options.

    Args:
        storage_options: per-scheme fsspec options, e.g. ``{"s3": {"endpoint_url": ...}}``.
            Credentials given here are used for reading and writing, never written to a manifest.
    """
    if storage_options is not None:
        settings().storage_options = {k: dict(v) for k, v in storage_options.items()}
