"""Starting and ending runs the way W&B code does: ``init``, ``finish``, ``satchel.run`` and
``satchel.config``.

:func:`init` takes W&B 0.31's arguments. Those that mean something without a server are used
(``project``, ``id``, ``name``, ``notes``, ``tags``, ``config`` and its include/exclude keys,
``group``, ``job_type``, ``resume``, ``reinit``); those about the W&B client's own process or
login are accepted and ignored (``entity``, ``dir``, ``force``, ``allow_val_change``,
``settings``, ``anonymous``, ``mode="online"``/``"offline"``); those that ask for a W&B service
satchel does not have raise :class:`~satchel.errors.UnsupportedError` saying so
(``mode="disabled"``/``"shared"``, ``resume_from``, ``fork_from``, ``save_code``,
``tensorboard``, ``sync_tensorboard``, ``monitor_gym``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from satchel import naming
from satchel import settings as _settings
from satchel.errors import ConfigError, NoActiveRunError, ResumeError, UnsupportedError
from satchel.registry import lineage
from satchel.runs import Run, RunConfig, _activate, _as_mapping, active_run
from satchel.services import Services, local_services
from satchel.store import Store
from satchel.store.records import utcnow, who

if TYPE_CHECKING:
    from satchel.artifact import Artifact

_RESUME = (None, False, True, "allow", "never", "must", "auto")
_REINIT = (None, False, True, "default", "return_previous", "finish_previous", "create_new")


def init(
    entity: str | None = None,
    project: str | None = None,
    dir: str | None = None,
    id: str | None = None,
    name: str | None = None,
    notes: str | None = None,
    tags: Sequence[str] | None = None,
    config: Any = None,
    config_exclude_keys: Sequence[str] | None = None,
    config_include_keys: Sequence[str] | None = None,
    allow_val_change: bool | None = None,
    group: str | None = None,
    job_type: str | None = None,
    mode: str | None = None,
    force: bool | None = None,
    reinit: bool | str | None = None,
    resume: bool | str | None = None,
    resume_from: str | None = None,
    fork_from: str | None = None,
    save_code: bool | None = None,
    tensorboard: bool | None = None,
    sync_tensorboard: bool | None = None,
    monitor_gym: bool | None = None,
    settings: Any = None,
    anonymous: Any = None,
    *,
    store: Store | str | None = None,
    services: Services | None = None,
) -> Run:
    """Start a run (W&B's ``wandb.init``) and make it the active run (``satchel.run``).

    Args:
        entity: accepted and ignored (satchel has no entities).
        project: the project (default: ``$SATCHEL_PROJECT`` or ``default``).
        dir: accepted and ignored (satchel keeps no local run folder).
        id: the run id (default: random); an existing id resumes that run.
        name: display name (default: the id).
        notes: free text about the run.
        tags: tags of the run.
        config: the job's configuration: a dict or an ``argparse.Namespace``.
        config_exclude_keys, config_include_keys: keys to drop from / keep of ``config``.
        allow_val_change, force, settings, anonymous: accepted and ignored.
        group: a group of runs working together (the default ``distributed_id``).
        job_type: the kind of job.
        mode: ``None``, ``"online"`` or ``"offline"`` (all the same here).
        reinit: ``None``/``"default"``/``"create_new"`` start a new run (``"create_new"`` does
            not make it ``satchel.run``), ``"return_previous"`` (or ``False``) returns the
            active run if there is one, ``"finish_previous"`` (or ``True``) finishes the
            active runs first.
        resume: ``None``, ``True``, ``"allow"`` or ``"auto"``: resume the run ``id`` if it
            exists; ``"must"``: it must exist; ``"never"``: it must not.
        resume_from, fork_from, save_code, tensorboard, sync_tensorboard, monitor_gym: W&B
            services satchel does not have; refused when set.
        store: a :class:`Store` or URL (default: the configured store).
        services: a complete dependency bundle (cache, store...).

    Returns:
        The running :class:`Run` (use it as a context manager, or call ``finish()``).

    Raises:
        InvalidNameError: a bad project, group, job type, tag or id.
        UnsupportedError: an argument asking for a W&B service satchel does not have.
        ResumeError: ``resume="must"``/``"never"`` and the run does / does not exist.
        ConfigError: an unknown ``resume`` or ``reinit`` value.
    """
    _refuse_services(
        mode, resume_from, fork_from, save_code, tensorboard, sync_tensorboard, monitor_gym
    )
    if resume not in _RESUME:
        raise ConfigError(f"resume must be one of {_RESUME[1:]} or None, got {resume!r}")
    if reinit not in _REINIT:
        raise ConfigError(f"reinit must be one of {_REINIT[1:]} or None, got {reinit!r}")
    previous = active_run()
    if reinit in ("return_previous", False) and previous is not None:
        return previous
    if reinit in ("finish_previous", True):
        while (running := active_run()) is not None:
            running.finish()
    run_id = naming.validate_name(id, kind="run id") if id is not None else uuid.uuid4().hex[:12]
    if group is not None:
        naming.validate_name(group, kind="group")
    if job_type is not None:
        naming.validate_name(job_type, kind="job_type")
    run_tags = [naming.validate_tag(t) for t in _tag_list(tags)]
    base = services or local_services()
    svc = base.with_store(store) if (store is not None or base.store is None) else base
    # a run writes its record into the project: no leading '.' (see satchel.naming)
    run_project = naming.validate_name(_settings.project(project), kind="project")
    run = Run(
        id=run_id,
        name=name or run_id,
        project=run_project,
        job_type=job_type,
        config=_run_config(config, config_include_keys, config_exclude_keys),
        group=group,
        started_at=utcnow(),
        services=svc,
        entity=entity,
        notes=notes,
        tags=run_tags,
    )
    if resume in ("must", "never"):
        exists = lineage.read_run(run.store, run.project, run.id) is not None
        if resume == "must" and not exists:
            raise ResumeError(
                f"resume='must' but run {run.project}/{run.id} does not exist in "
                f"{run.store.url}; check the id, or use resume='allow'"
            )
        if resume == "never" and exists:
            raise ResumeError(
                f"resume='never' but run {run.project}/{run.id} already exists in "
                f"{run.store.url}; choose another id, or use resume='allow'"
            )
    record = lineage.start_run(run.store, lineage.RunRecord(
        id=run.id, project=run.project, name=run.name, job_type=job_type, group=group,
        config=dict(run.config), started_at=run.started_at, created_by=who(), notes=notes,
        tags=run_tags,
    ))  # fmt: skip
    if record.started_at != run.started_at:  # resuming a run id that exists
        run.inputs, run.outputs = list(record.inputs), list(record.outputs)
        run.started_at = record.started_at
        if not config:
            run.config = RunConfig(record.config)
    if reinit != "create_new":
        _activate(run)
    return run


def _refuse_services(
    mode: str | None, resume_from: str | None, fork_from: str | None, *flags: bool | None
) -> None:
    if mode not in (None, "online", "offline"):
        raise UnsupportedError(
            f"mode={mode!r} is not available in satchel: a run always records its artifacts "
            "in the store (there is no server to switch off or share); leave mode unset"
        )
    if resume_from is not None or fork_from is not None:
        raise UnsupportedError(
            "resume_from and fork_from rewind or fork a run's metric history, which satchel "
            "does not keep; start the run with resume='allow' and an id instead"
        )
    names = ("save_code", "tensorboard", "sync_tensorboard", "monitor_gym")
    asked = [n for n, v in zip(names, flags) if v]
    if asked:
        raise UnsupportedError(
            f"{', '.join(asked)} asks for a W&B service satchel does not have (it versions "
            "artifacts, not code, metrics or media); remove the argument"
        )


def _tag_list(tags: Sequence[str] | str | None) -> list[str]:
    if tags is None:
        return []
    return [tags] if isinstance(tags, str) else list(tags)


def _run_config(
    config: Any, include: Sequence[str] | None, exclude: Sequence[str] | None
) -> RunConfig:
    if isinstance(config, str):
        raise UnsupportedError(
            f"config={config!r}: satchel does not read config files; load the file and pass "
            "the dict"
        )
    values = dict(_as_mapping(config))
    if include:
        values = {k: v for k, v in values.items() if k in set(include)}
    if exclude:
        values = {k: v for k, v in values.items() if k not in set(exclude)}
    return RunConfig(values)


def finish(exit_code: int | None = None) -> None:
    """Finish the active run (W&B's ``wandb.finish``); nothing happens without one.

    Args:
        exit_code: the job's exit status (0 or ``None``: success).
    """
    run = active_run()
    if run is not None:
        run.finish(exit_code=exit_code)


class NoRunConfig:
    """What ``satchel.config`` is before :func:`init`: any use raises, as W&B's does."""

    def __getattr__(self, key: str) -> NoReturn:
        """Raises :class:`~satchel.errors.NoActiveRunError`."""
        if key.startswith("__"):
            raise AttributeError(key)
        _no_run(f"satchel.config.{key}")

    def __getitem__(self, key: str) -> NoReturn:
        """Raises :class:`~satchel.errors.NoActiveRunError`."""
        _no_run(f"satchel.config[{key!r}]")

    def __setitem__(self, key: str, value: Any) -> NoReturn:
        """Raises :class:`~satchel.errors.NoActiveRunError`."""
        _no_run(f"satchel.config[{key!r}] = ...")

    def __repr__(self) -> str:
        return "<satchel.config: no active run; call satchel.init() first>"


def _no_run(what: str) -> NoReturn:
    raise NoActiveRunError(f"{what} needs an active run; call satchel.init() first")


def current_config() -> RunConfig | NoRunConfig:
    """``satchel.config``: the active run's config, or a :class:`NoRunConfig`."""
    run = active_run()
    return run.config if run is not None else NoRunConfig()


def require_run(what: str) -> Run:
    """The active run.

    Raises:
        NoActiveRunError: there is none.
    """
    run = active_run()
    if run is None:
        _no_run(what)
    return run


def log_model(
    path: str | os.PathLike[str], name: str | None = None, aliases: Sequence[str] | None = None
) -> Artifact:
    """``satchel.run.log_model(...)`` (W&B's ``wandb.log_model``).

    Raises:
        NoActiveRunError: no active run.
    """
    return require_run("log_model").log_model(path, name, aliases)


def use_model(name: str) -> str:
    """``satchel.run.use_model(name)`` (W&B's ``wandb.use_model``).

    Raises:
        NoActiveRunError: no active run.
    """
    return require_run("use_model").use_model(name)


def link_model(
    path: str | os.PathLike[str],
    registered_model_name: str,
    name: str | None = None,
    aliases: Sequence[str] | None = None,
) -> Artifact:
    """``satchel.run.link_model(...)`` (W&B's ``wandb.link_model``).

    Raises:
        NoActiveRunError: no active run.
    """
    return require_run("link_model").link_model(path, registered_model_name, name, aliases)
