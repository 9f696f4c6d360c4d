"""``Run``: one execution of a job that reads and writes artifacts (W&B's ``wandb.init()`` run).

:func:`init` starts a run; it is a context manager and :meth:`Run.finish` ends it. A run groups
collaborative work: :meth:`Run.upsert_artifact` contributes a part to a version that several
runs build together and :meth:`Run.finish_artifact` commits it (see :mod:`satchel.collab`);
``distributed_id`` defaults to the run's ``group``.

The run is deliberately small: identity, a lifecycle state and the services it works with.
Lineage is recorded by :mod:`satchel.registry.lineage`: :func:`init` writes the run record
``projects/<p>/runs/<id>.json``, :meth:`Run.use_artifact` and :meth:`Run.log_artifact` add
inputs and outputs to it (compare-and-swap), :meth:`Run.finish` stamps ``finished_at``.
"""

from __future__ import annotations

import enum
import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from satchel import config, naming
from satchel.artifact import Artifact
from satchel.collab import Contributor, finish_parts, upsert_part
from satchel.errors import ConfigError, RunFinishedError
from satchel.registry import lineage
from satchel.services import Services, local_services
from satchel.store import Store
from satchel.store.records import utcnow, who


class RunState(str, enum.Enum):
    """Where a run is in its life."""

    RUNNING = "running"
    FINISHED = "finished"


@dataclass(eq=False)
class Run:
    """A running job. Create it with :func:`init`.

    Attributes:
        id: unique id (12 hex characters unless given).
        name: display name (default: the id).
        project: the project its artifacts go to.
        job_type: what kind of job it is (``"train"``, ``"preprocess"``...), or ``None``.
        config: the job's configuration (JSON-able dict).
        group: the group of runs it belongs to; the default ``distributed_id``.
        started_at, finished_at: ISO 8601 UTC times (``finished_at`` ``None`` while running).
        services: the cache and store it works with.
        inputs: ``project/name:vN`` of the versions it used, in order.
        outputs: ``project/name:vN`` of the versions it logged, in order.
    """

    id: str
    name: str
    project: str
    job_type: str | None
    config: dict[str, Any]
    group: str | None
    started_at: str
    services: Services = field(repr=False)
    finished_at: str | None = None
    state: RunState = RunState.RUNNING
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=itertools.count, repr=False)

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
        """Finish the run (also when the block raised)."""
        self.finish()

    def finish(self) -> None:
        """End the run; later calls do nothing."""
        if self.state is RunState.FINISHED:
            return
        self.finished_at = utcnow()
        self.state = RunState.FINISHED
        lineage.finish_run(self.store, self.project, self.id, self.finished_at)

    def _check_running(self, what: str) -> None:
        if self.state is RunState.FINISHED:
            raise RunFinishedError(
                f"run {self.name} is finished; {what} needs a running run (satchel.init())"
            )

    @property
    def store(self) -> Store:
        """The store the run writes to."""
        return self.services.require_store()

    # -- lineage --------------------------------------------------------------------------
    def use_artifact(self, artifact_or_ref: Artifact | str, type: str | None = None) -> Artifact:
        """Fetch a version (or take a committed artifact) and record it as an input.

        Args:
            artifact_or_ref: an :class:`Artifact` or ``"name"``, ``"name:v3"``,
                ``"project/name:alias"`` (the run's project by default).
            type: when given, the artifact must have this type.

        Returns:
            The artifact.

        Raises:
            ArtifactNotFoundError, ArtifactTypeMismatchError: see ``Api.artifact``.
            ArtifactNotLoggedError: a draft was given. RunFinishedError: run finished.
        """
        from satchel.api import Api

        self._check_running("use_artifact")
        if isinstance(artifact_or_ref, str):
            art = Api(self.store, self.project, services=self.services).artifact(
                artifact_or_ref, type
            )
        else:
            art = artifact_or_ref
        record = art._committed("use_artifact")
        lineage.record_input(self.store, self.project, self.id, record)
        ref = lineage.version_ref(record)
        if ref not in self.inputs:
            self.inputs.append(ref)
        return art

    def log_artifact(
        self,
        artifact: Artifact,
        aliases: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
    ) -> Artifact:
        """Commit ``artifact`` into the run's project as a version this run produced.

        Args:
            artifact: a draft (committed, with this run recorded as its producer) or a
                committed version (only recorded as an output).
            aliases: aliases to point at the version.
            tags: tags to add.

        Returns:
            ``artifact``, committed.

        Raises:
            RunFinishedError: run finished. See ``Artifact.save`` for the rest.
        """
        self._check_running("log_artifact")
        if artifact.is_draft():
            artifact._run_id = self.id
            artifact.save(self.project, store=self.store, aliases=aliases, tags=tags)
        elif aliases is not None or tags is not None:
            artifact.save(aliases=aliases, tags=tags)
        record = artifact._committed("log_artifact")
        lineage.record_output(self.store, self.project, self.id, record)
        ref = lineage.version_ref(record)
        if ref not in self.outputs:
            self.outputs.append(ref)
        return artifact

    @classmethod
    def _from_record(cls, record: lineage.RunRecord, services: Services) -> Run:
        """A (read-only, as far as lineage goes) view of a recorded run."""
        return cls(
            id=record.id, name=record.name or record.id, project=record.project,
            job_type=record.job_type, config=dict(record.config), group=record.group,
            started_at=record.started_at, services=services, finished_at=record.finished_at,
            state=RunState.FINISHED if record.finished_at else RunState.RUNNING,
            inputs=list(record.inputs), outputs=list(record.outputs),
        )

    # -- collaborative versions -----------------------------------------------------------
    def _contributor(self) -> Contributor:
        return Contributor(self.id, self.name, next(self._seq))

    def _distributed_id(self, distributed_id: str | None, what: str) -> str:
        value = distributed_id if distributed_id is not None else self.group
        if value is None:
            raise ConfigError(
                f"{what} needs a distributed_id: pass distributed_id=... or start the run with "
                "satchel.init(group=...)"
            )
        return naming.validate_name(value, kind="distributed_id")

    def upsert_artifact(self, artifact: Artifact, distributed_id: str | None = None) -> Artifact:
        """Contribute ``artifact``'s current entries to the pending version ``distributed_id``.

        Uploads the objects the store lacks and records a part; the artifact stays a draft (add
        more and upsert again: the run's latest part wins for a path it upserted before).

        Args:
            artifact: a draft.
            distributed_id: the collaborative version (default: the run's group).

        Returns:
            ``artifact``.

        Raises:
            ConfigError: no ``distributed_id`` and no group. RunFinishedError: run finished.
            ArtifactStateError: not a draft. ArtifactTypeMismatchError: name has another type.
        """
        self._check_running("upsert_artifact")
        did = self._distributed_id(distributed_id, "upsert_artifact")
        upsert_part(
            self.store, artifact, project=self.project, distributed_id=did, by=self._contributor()
        )
        return artifact

    def finish_artifact(self, artifact: Artifact, distributed_id: str | None = None) -> Artifact:
        """Commit every part of ``distributed_id`` (with ``artifact``'s own) as one version.

        Args:
            artifact: a draft; its description, metadata and tags go to the version.
            distributed_id: the collaborative version (default: the run's group).

        Returns:
            ``artifact``, now committed. Later upserts with the same id start a new version.

        Raises:
            PartConflictError: two runs upserted one path with different content; nothing is
                committed. ConfigError, RunFinishedError, ArtifactStateError: see upsert.
        """
        self._check_running("finish_artifact")
        did = self._distributed_id(distributed_id, "finish_artifact")
        return finish_parts(
            self.store, artifact, project=self.project, distributed_id=did, by=self._contributor()
        )


def init(
    project: str | None = None,
    group: str | None = None,
    job_type: str | None = None,
    name: str | None = None,
    config: dict[str, Any] | None = None,
    *,
    id: str | None = None,
    store: Store | str | None = None,
    services: Services | None = None,
) -> Run:
    """Start a run.

    Args:
        project: the project (default: ``$SATCHEL_PROJECT`` or ``default``).
        group: a group of runs working together (the default ``distributed_id``).
        job_type: the kind of job.
        name: display name (default: the id).
        config: JSON-able configuration of the job.
        id: the run id (default: random).
        store: a :class:`Store` or URL (default: the configured store).
        services: a complete dependency bundle (cache, store...).

    Returns:
        The running :class:`Run` (use it as a context manager, or call ``finish()``).

    Raises:
        InvalidNameError: a bad project, group, job type, name or id.
    """
    run_id = naming.validate_name(id, kind="run id") if id is not None else uuid.uuid4().hex[:12]
    if group is not None:
        naming.validate_name(group, kind="group")
    if job_type is not None:
        naming.validate_name(job_type, kind="job_type")
    base = services or local_services()
    svc = base.with_store(store) if (store is not None or base.store is None) else base
    run = Run(
        id=run_id,
        name=name or run_id,
        project=_config_project(project),
        job_type=job_type,
        config=dict(config or {}),
        group=group,
        started_at=utcnow(),
        services=svc,
    )
    record = lineage.start_run(run.store, lineage.RunRecord(
        id=run.id, project=run.project, name=run.name, job_type=job_type, group=group,
        config=run.config, started_at=run.started_at, created_by=who(),
    ))  # fmt: skip
    if record.started_at != run.started_at:  # resuming a run id that exists
        run.inputs, run.outputs = list(record.inputs), list(record.outputs)
        run.started_at = record.started_at
    return run


def _config_project(project: str | None) -> str:
    # a run writes its record into the project: no leading '.' (see satchel.naming)
    return naming.validate_name(config.project(project), kind="project")
