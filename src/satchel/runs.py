"""``Run``: one execution of a job that reads and writes artifacts (W&B's ``wandb.init()`` run).

:func:`satchel.init` (in :mod:`satchel.session`) starts a run; it is a context manager and
:meth:`Run.finish` ends it. A run groups collaborative work: :meth:`Run.upsert_artifact`
contributes a part to a version that several runs build together and
:meth:`Run.finish_artifact` commits it (see :mod:`satchel.collab`); ``distributed_id`` defaults
to the run's ``group``.

The run is deliberately small: identity, a lifecycle state and the services it works with.
Lineage is recorded by :mod:`satchel.registry.lineage`: ``init`` writes the run record
``projects/<p>/runs/<id>.json``, :meth:`Run.use_artifact` and :meth:`Run.log_artifact` add
inputs and outputs to it (compare-and-swap), :meth:`Run.finish` stamps ``finished_at``.

**The active run.** W&B code reads ``wandb.run`` (the active run, or ``None``) and expects
``Artifact.save()`` to log into it, so the process keeps a list of the runs ``init`` made
active (:func:`active_run` is the newest unfinished one). This is the one piece of
process-wide state in satchel, and it exists because W&B's API defines it.
"""

from __future__ import annotations

import enum
import itertools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from satchel import naming
from satchel.artifact import Artifact
from satchel.collab import Contribution, Contributor, finish_parts, upsert_part
from satchel.errors import (
    ArtifactNotFoundError,
    ArtifactStateError,
    ArtifactTypeMismatchError,
    DistributedIdMissingError,
    InvalidNameError,
    NotAModelError,
    RunConfigKeyError,
    RunFinishedError,
    SourceFileNotFoundError,
    UnsupportedError,
)
from satchel.registry import lineage
from satchel.services import Services
from satchel.store import Store
from satchel.store.records import VersionRecord, utcnow
from satchel.version import resolve

_ACTIVE: list[Run] = []  # see the module docstring: W&B's wandb.run is process-wide


def active_run() -> Run | None:
    """The newest run started with :func:`satchel.init` that is not finished, or ``None``."""
    return _ACTIVE[-1] if _ACTIVE else None


def run_to_log(artifact: Artifact, store: Store | str | None) -> Run | None:
    """The active run that logs ``artifact`` when it is saved (W&B's ``Artifact.save()``
    inside a run): a draft not being logged already, saved into the run's store (lineage
    cannot point into another store); ``None`` otherwise."""
    run = active_run()
    if run is None or not artifact.is_draft() or artifact._run_id is not None:
        return None
    svc = artifact._services
    target: Store | str | None = store if store is not None else (svc.store if svc else None)
    target = target or artifact._origin
    if target is None:
        return run
    url = (
        target.url
        if isinstance(target, Store)
        else artifact._svc().with_store(target).require_store().url
    )
    return run if url == run.store.url else None


def deactivate_all() -> None:
    """Forget every active run without finishing it: ``satchel.run`` becomes ``None`` and
    ``Artifact.save()`` logs into no run. For test harnesses, and for a forked child process
    that must not log into its parent's runs."""
    _ACTIVE.clear()


def _activate(run: Run) -> None:
    _ACTIVE.append(run)


def _deactivate(run: Run) -> None:
    while run in _ACTIVE:
        _ACTIVE.remove(run)


class RunState(str, enum.Enum):
    """Where a run is in its life."""

    RUNNING = "running"
    FINISHED = "finished"


class RunConfig(dict[str, Any]):
    """A run's configuration: a dict whose keys are also attributes (``config.lr``), as W&B's
    ``wandb.config`` is. Changes made while the run runs are recorded when it finishes."""

    def __getattr__(self, key: str) -> Any:
        """``config.key`` is ``config["key"]``.

        Raises:
            RunConfigKeyError: no such key (an ``AttributeError``).
        """
        if key.startswith("__"):
            raise AttributeError(key)  # Python's own protocols (copy, pickle) probe dunders
        try:
            return self[key]
        except KeyError:
            raise RunConfigKeyError(
                f"the run's config has no key {key!r}; set it first (config.{key} = ...)"
            ) from None

    def __setattr__(self, key: str, value: Any) -> None:
        """``config.key = value`` is ``config["key"] = value``."""
        self[key] = value

    def __delattr__(self, key: str) -> None:
        """``del config.key`` removes the key.

        Raises:
            RunConfigKeyError: no such key.
        """
        try:
            del self[key]
        except KeyError:
            raise RunConfigKeyError(f"the run's config has no key {key!r} to delete") from None

    def update(self, d: Any = (), allow_val_change: bool | None = None, **kwargs: Any) -> None:  # type: ignore[override]
        """Add keys from a dict (or an ``argparse.Namespace``, as W&B accepts) and keywords.

        Args:
            d: a mapping, an iterable of pairs, or an object whose ``vars()`` are the keys.
            allow_val_change: accepted for W&B compatibility (values may always change).
        """
        super().update(_as_mapping(d), **kwargs)

    def setdefaults(self, d: Mapping[str, Any]) -> None:
        """Set the keys of ``d`` that the config does not have yet (W&B's name)."""
        for key, value in d.items():
            self.setdefault(key, value)

    def as_dict(self) -> dict[str, Any]:
        """A plain ``dict`` copy."""
        return dict(self)


def _as_mapping(value: Any) -> Any:
    if value is None:
        return {}
    if isinstance(value, (Mapping, list, tuple)):
        return value
    if hasattr(value, "__dict__"):  # argparse.Namespace and other simple objects
        return {k: v for k, v in vars(value).items() if not k.startswith("_")}
    raise UnsupportedError(
        f"config must be a dict or an argparse.Namespace, got {type(value).__name__}; satchel "
        "does not read config files (load it yourself and pass the dict)"
    )


@dataclass(eq=False)
class Run:
    """A running job. Create it with :func:`satchel.init`.

    Attributes:
        id: unique id (12 hex characters unless given).
        name: display name (default: the id).
        project: the project its artifacts go to.
        job_type: what kind of job it is (``"train"``, ``"preprocess"``...), or ``None``.
        config: the job's configuration (:class:`RunConfig`, a dict with attribute access).
        group: the group of runs it belongs to; the default ``distributed_id``.
        started_at, finished_at: ISO 8601 UTC times (``finished_at`` ``None`` while running).
        services: the cache and store it works with.
        inputs: ``project/name:vN`` of the versions it used, in order.
        outputs: ``project/name:vN`` of the versions it logged, in order.
        entity: the W&B entity given to ``init`` (recorded nowhere; satchel has none).
        notes, tags: free text and tags describing the run.
        exit_code: what ``finish(exit_code)`` recorded (``None`` while running).
    """

    id: str
    name: str
    project: str
    job_type: str | None
    config: RunConfig
    group: str | None
    started_at: str
    services: Services = field(repr=False)
    finished_at: str | None = None
    state: RunState = RunState.RUNNING
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    entity: str | None = None
    notes: str | None = None
    tags: list[str] = field(default_factory=list)
    exit_code: int | None = None
    _seq: itertools.count[int] = field(default_factory=itertools.count, repr=False)

    if not TYPE_CHECKING:  # a __getattr__ would make type checkers accept any attribute

        def __getattr__(self, name: str) -> Any:
            """A W&B run attribute satchel lacks (``run.log``...) raises
            :class:`~satchel.errors.NotInSatchelError` saying why; others an ``AttributeError``."""
            from satchel.wandb_names import missing_on

            error = missing_on("Run", name) if not name.startswith("_") else None
            if error is not None:
                raise error
            raise AttributeError(f"'Run' object has no attribute {name!r}")

    # -- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> Run:  # noqa: PYI034 - typing.Self needs Python 3.11
        """The run itself."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Finish the run (with exit code 1 when the block raised)."""
        self.finish(exit_code=1 if exc_type is not None else None)

    def finish(self, exit_code: int | None = None) -> None:
        """End the run, recording its configuration (it may have changed) and ``exit_code``;
        later calls do nothing.

        Args:
            exit_code: the job's exit status (0 or ``None``: success), as W&B's.
        """
        if self.state is RunState.FINISHED:
            return
        self.finished_at = utcnow()
        self.state = RunState.FINISHED
        self.exit_code = exit_code
        _deactivate(self)
        lineage.finish_run(
            self.store,
            self.project,
            self.id,
            self.finished_at,
            config=dict(self.config),
            exit_code=exit_code,
        )

    def _check_running(self, what: str) -> None:
        if self.state is RunState.FINISHED:
            raise RunFinishedError(
                f"run {self.name} is finished; {what} needs a running run (satchel.init())"
            )

    @property
    def store(self) -> Store:
        """The store the run writes to."""
        return self.services.require_store()

    @property
    def path(self) -> list[str]:
        """``[entity, project, id]``, as W&B's ``run.path`` (the entity may be ``None``)."""
        return [self.entity or "", self.project, self.id]

    @property
    def url(self) -> str:
        """Where the run's record lives in the store (satchel has no web UI)."""
        return f"{self.store.url.rstrip('/')}/projects/{self.project}/runs/{self.id}.json"

    def _artifact(self, ref: str, type: str | None = None) -> Artifact:
        """The committed version ``ref`` names (the run's project by default), as
        ``Api.artifact`` finds it.

        Raises:
            ArtifactNotFoundError, ArtifactDeletedError, InvalidNameError: see
                :func:`satchel.version.resolve`.
            ArtifactTypeMismatchError: ``type`` given and different.
        """
        version = resolve(self.store, self.project, ref)
        rec = version.record
        if type is not None and rec.type != type:
            raise ArtifactTypeMismatchError(
                f"artifact {rec.project}/{rec.name} has type {rec.type!r}, not {type!r}"
            )
        return Artifact._of(version, self.services)

    # -- lineage --------------------------------------------------------------------------
    def use_artifact(
        self,
        artifact_or_name: Artifact | str,
        type: str | None = None,
        aliases: Sequence[str] | None = None,
        use_as: str | None = None,
    ) -> Artifact:
        """Fetch a version (or take an artifact) and record it as an input of the run.

        Args:
            artifact_or_name: an :class:`Artifact`, or ``"name"``, ``"name:v3"``,
                ``"project/name:alias"``, ``"entity/project/name:alias"`` (the run's project
                by default). A draft is first logged by this run (as W&B does).
            type: when given, the artifact must have this type.
            aliases: aliases for a draft that is logged here (ignored for a committed one).
            use_as: accepted for W&B compatibility; does nothing (deprecated in W&B).

        Returns:
            The artifact.

        Raises:
            ArtifactNotFoundError, ArtifactTypeMismatchError: see ``Api.artifact``.
            RunFinishedError: run finished.
        """
        self._check_running("use_artifact")
        if isinstance(artifact_or_name, str):
            art: Artifact = self._artifact(artifact_or_name, type)
        else:
            art = artifact_or_name
            if art.is_draft():
                self.log_artifact(art, aliases=aliases)
        record = art._committed("use_artifact")
        lineage.record_input(self.store, self.project, self.id, record)
        _remember(self.inputs, record)
        return art

    def log_artifact(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
    ) -> Artifact:
        """Commit an artifact into the run's project as a version this run produced.

        Args:
            artifact_or_path: a draft (committed, with this run recorded as its producer), a
                committed version (only recorded as an output), or, as in W&B, a local file,
                a local folder or a URI (``s3://...``) to make an artifact of.
            name: for a path, the artifact name (default ``run-<run id>-<basename>``).
            type: for a path, the artifact type (default ``"unspecified"``).
            aliases: aliases to point at the version (``latest`` is implied).
            tags: tags to add.

        Returns:
            The artifact, committed.

        Raises:
            RunFinishedError: run finished. SourceFileNotFoundError: a path that is neither a
            file, a folder nor a URI. See ``Artifact.save`` for the rest.
        """
        self._check_running("log_artifact")
        artifact = self._prepare(artifact_or_path, name, type)
        return self._log(artifact, None, aliases, tags)

    def _log(
        self,
        artifact: Artifact,
        project: str | None,
        aliases: Sequence[str] | None,
        tags: Sequence[str] | None,
    ) -> Artifact:
        """Commit (or take) ``artifact`` and record it as an output (``Artifact.save`` inside an
        active run lands here with its own ``project``)."""
        if artifact.is_draft():
            artifact._run_id = self.id
            try:
                artifact.save(project or self.project, store=self.store, aliases=aliases, tags=tags)
            except BaseException:
                artifact._run_id = None
                raise
        elif aliases is not None or tags is not None:
            artifact.save(aliases=aliases, tags=tags)
        record = artifact._committed("log_artifact")
        lineage.record_output(self.store, self.project, self.id, record)
        _remember(self.outputs, record)
        return artifact

    def _prepare(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
        name: str | None,
        type: str | None,
    ) -> Artifact:
        """The artifact to log: itself, or (W&B's shortcut) a new one holding a path."""
        _check_name_argument(name)
        if isinstance(artifact_or_path, Artifact):
            return artifact_or_path
        path = os.fspath(artifact_or_path)
        art = Artifact(
            name or self._default_name(path), type or "unspecified", services=self.services
        )
        if "://" in path:
            art.add_reference(path)
        elif os.path.isfile(path):
            art.add_file(path)
        elif os.path.isdir(path):
            art.add_dir(path)
        else:
            raise SourceFileNotFoundError(
                f"{path} is neither a file, a folder nor a URI (like s3://bucket/path); "
                "check the path"
            )
        return art

    def _default_name(self, path: str | os.PathLike[str]) -> str:
        """W&B's name for an artifact made of a path: ``run-<run id>-<basename>``."""
        base = os.path.basename(os.fspath(path).rstrip("/")) or "root"
        return f"run-{self.id}-{base}"

    def link_artifact(
        self, artifact: Artifact, target_path: str, aliases: Sequence[str] | None = None
    ) -> Artifact:
        """Link ``artifact`` into the portfolio ``target_path`` (logging a draft first).

        Args:
            artifact: a draft or a committed version.
            target_path: ``"portfolio"``, ``"project/portfolio"`` or W&B's
                ``"entity/project/portfolio"`` (the entity is ignored); a bare portfolio name
                is in the run's project.
            aliases: portfolio aliases to point at the link.

        Returns:
            The linked version, as an artifact of the portfolio.
        """
        self._check_running("link_artifact")
        if artifact.is_draft():
            self._log(artifact, None, None, None)
        parts = target_path.split("/")
        if len(parts) == 1:
            target_path = f"{self.project}/{target_path}"
        return artifact.link(target_path, aliases)

    def log_model(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        aliases: Sequence[str] | None = None,
    ) -> Artifact:
        """Log a file or folder as an artifact of type ``model`` (W&B's ``log_model``; W&B
        returns ``None``, satchel the committed artifact).

        Raises:
            RunFinishedError, SourceFileNotFoundError, InvalidNameError.
        """
        self._check_running("log_model")
        return self.log_artifact(path, name=name, type="model", aliases=aliases)

    def use_model(self, name: str) -> str:
        """Use a model artifact and download it; return the folder, or the single file in it.

        Raises:
            NotAModelError: the artifact's type does not contain ``model`` (an
                ``AssertionError``, as in W&B).
            ArtifactNotFoundError: no such artifact.
        """
        self._check_running("use_model")
        art = self.use_artifact(name)
        _check_model(art)
        folder = art.download()
        found = os.listdir(folder)
        return os.path.join(folder, found[0]) if len(found) == 1 else folder

    def link_model(
        self,
        path: str | os.PathLike[str],
        registered_model_name: str,
        name: str | None = None,
        aliases: Sequence[str] | None = None,
    ) -> Artifact:
        """Log ``path`` as a model version (of the existing model artifact ``name``, whose type
        is kept) and link it into ``model-registry/<registered_model_name>``, as W&B does.

        Raises:
            InvalidNameError: ``registered_model_name`` has a ``/``.
            NotAModelError: the existing artifact ``name`` is not a model.
        """
        self._check_running("link_model")
        if "/" in registered_model_name:
            raise InvalidNameError(
                f"registered model name {registered_model_name!r} has a '/'; give only the "
                "name (it is linked into the project 'model-registry')"
            )
        name = name or self._default_name(path)
        try:
            existing = self._artifact(f"{name}:latest")
        except ArtifactNotFoundError:
            existing = None
        if existing is not None:
            _check_model(existing)
        model_type = existing.type if existing is not None else "model"
        model = self._log(self._prepare(path, name, model_type), None, None, None)
        return model.link(f"model-registry/{registered_model_name}", aliases)

    def logged_artifacts(self, per_page: int = 100) -> list[Artifact]:
        """The live versions this run logged, in order (``per_page`` is accepted for W&B
        compatibility: the list is complete)."""
        return self._versions(self.outputs)

    def used_artifacts(self, per_page: int = 100) -> list[Artifact]:
        """The live versions this run used, in order."""
        return self._versions(self.inputs)

    def _versions(self, refs: Sequence[str]) -> list[Artifact]:
        out = []
        for ref in refs:
            try:
                out.append(self._artifact(ref))
            except ArtifactNotFoundError:  # deleted since
                continue
        return out

    @classmethod
    def _from_record(cls, record: lineage.RunRecord, services: Services) -> Run:
        """A (read-only, as far as lineage goes) view of a recorded run."""
        return cls(
            id=record.id,
            name=record.name or record.id,
            project=record.project,
            job_type=record.job_type,
            config=RunConfig(record.config),
            group=record.group,
            started_at=record.started_at,
            services=services,
            finished_at=record.finished_at,
            state=RunState.FINISHED if record.finished_at else RunState.RUNNING,
            inputs=list(record.inputs),
            outputs=list(record.outputs),
            notes=record.notes,
            tags=list(record.tags),
            exit_code=record.exit_code,
        )

    # -- collaborative versions -----------------------------------------------------------
    def _contributor(self) -> Contributor:
        return Contributor(self.id, self.name, next(self._seq))

    def _distributed_id(self, distributed_id: str | None, what: str) -> str:
        value = distributed_id if distributed_id is not None else self.group
        if value is None:
            raise DistributedIdMissingError(
                f"{what} needs a distributed_id: pass distributed_id=... or start the run with "
                "satchel.init(group=...)"
            )
        return naming.validate_name(value, kind="distributed_id")

    def upsert_artifact(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: Sequence[str] | None = None,
        distributed_id: str | None = None,
    ) -> Artifact:
        """Contribute an artifact's current entries to the pending version ``distributed_id``.

        Uploads the objects the store lacks and records a part; the artifact stays a draft (add
        more and upsert again: the run's latest part wins for a path it upserted before).

        Args:
            artifact_or_path: a draft, or a path/URI to make one of (see :meth:`log_artifact`).
            name, type: for a path, the artifact's name and type.
            aliases: only ``["latest"]`` (W&B's default) is accepted here; give aliases to
                :meth:`finish_artifact`.
            distributed_id: the collaborative version (default: the run's group).

        Returns:
            The artifact.

        Raises:
            DistributedIdMissingError: no ``distributed_id`` and no group (a ``TypeError``).
            UnsupportedError: aliases other than ``latest``. RunFinishedError: run finished.
            ArtifactStateError: not a draft. ArtifactTypeMismatchError: name has another type.
        """
        self._check_running("upsert_artifact")
        did = self._distributed_id(distributed_id, "upsert_artifact")
        if aliases and set(aliases) - {naming.LATEST}:
            raise UnsupportedError(
                "upsert_artifact cannot set aliases in satchel (a part is not a version yet); "
                "pass them to finish_artifact"
            )
        artifact = self._prepare(artifact_or_path, name, type)
        upsert_part(
            self.store,
            _contribution(artifact, "upsert_artifact"),
            project=self.project,
            distributed_id=did,
            by=self._contributor(),
        )
        return artifact

    def finish_artifact(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: Sequence[str] | None = None,
        distributed_id: str | None = None,
    ) -> Artifact:
        """Commit every part of ``distributed_id`` (with the artifact's own) as one version.

        Args:
            artifact_or_path: a draft (its description, metadata and tags go to the version),
                or a path/URI to make one of.
            name, type: for a path, the artifact's name and type.
            aliases: aliases to point at the finished version.
            distributed_id: the collaborative version (default: the run's group).

        Returns:
            The artifact, now committed. Later upserts with the same id start a new version.

        Raises:
            PartConflictError: two runs upserted one path with different content; nothing is
                committed. DistributedIdMissingError, RunFinishedError, ArtifactStateError:
                see :meth:`upsert_artifact`.
        """
        self._check_running("finish_artifact")
        did = self._distributed_id(distributed_id, "finish_artifact")
        artifact = self._prepare(artifact_or_path, name, type)
        store = self.store
        result = finish_parts(
            store,
            _contribution(artifact, "finish_artifact"),
            project=self.project,
            distributed_id=did,
            by=self._contributor(),
        )
        artifact._adopt_commit(store, result.record, result.manifest, created=result.created)
        if aliases:
            artifact.save(aliases=aliases)
        return artifact


def _contribution(artifact: Artifact, what: str) -> Contribution:
    """What a draft artifact contributes to a collaborative version.

    Raises:
        ArtifactStateError: the artifact is not a draft.
    """
    draft = artifact._draft
    if not artifact.is_draft() or draft is None:
        raise ArtifactStateError(
            f"{what} needs a draft; {artifact.name} is already {artifact.state.value.lower()}. "
            "Create a new Artifact (or new_draft()) for the next collaborative version"
        )
    return Contribution(
        artifact.collection_name,
        artifact.type,
        draft,
        artifact._svc().cache,
        origin=artifact._origin,
        description=artifact.description,
        metadata=artifact.metadata,
        tags=tuple(artifact.tags),
    )


def _check_name_argument(name: Any) -> None:
    """The second argument of ``log_artifact`` & co. is W&B's ``name``; satchel's earlier
    ``log_artifact(artifact, aliases)`` would otherwise lose its aliases without a word."""
    if name is not None and not isinstance(name, str):
        raise InvalidNameError(
            f"name must be a str, got {type(name).__name__}: the second argument of "
            "log_artifact is the artifact name (W&B's order); pass aliases=[...] by keyword"
        )


def _check_model(art: Artifact) -> None:
    if "model" not in art.type.lower():
        raise NotAModelError(
            f"artifact {art.name} has type {art.type!r}; use_model and link_model need an "
            "artifact whose type contains 'model' (use use_artifact for others)"
        )


def _remember(refs: list[str], record: VersionRecord) -> None:
    """Add a version's reference to a run's inputs or outputs, once."""
    ref = lineage.version_ref(record)
    if ref not in refs:
        refs.append(ref)
