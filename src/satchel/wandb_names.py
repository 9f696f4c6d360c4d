"""Names of W&B's top-level module that satchel does not offer, and what to do instead.

``import satchel as wandb`` makes ``wandb.log``, ``wandb.Table``... attribute look-ups on
satchel; :func:`missing` turns each into a :class:`~satchel.errors.NotInSatchelError` (an
``AttributeError``) whose message says why the name is missing and what to use, instead of
Python's bare "module has no attribute".
"""

from __future__ import annotations

from satchel.errors import NotInSatchelError

_METRICS = "satchel versions artifacts; it records no metrics, media or charts"
_SERVER = "satchel has no server"

#: W&B 0.31 top-level name -> why satchel lacks it and what to do instead
HINTS: dict[str, str] = {
    "login": f"{_SERVER} and needs no login; remove the call (a bucket's credentials come "
    "from satchel.configure(storage_options=...) or the environment)",
    "setup": f"{_SERVER} process to set up; remove the call",
    "teardown": f"{_SERVER} process to tear down; remove the call",
    "Settings": "satchel has no client settings; init(settings=...) is accepted and ignored, "
    "and satchel.configure() sets storage options",
    "log": f"{_METRICS}; log values as artifact metadata (artifact.metadata[...] = ...)",
    "summary": f"{_METRICS}; keep summaries in artifact metadata",
    "define_metric": _METRICS,
    "watch": _METRICS,
    "unwatch": _METRICS,
    "save": "satchel does not upload run files; add them to an artifact (add_file) instead",
    "restore": "satchel does not keep run files; download an artifact instead",
    "alert": f"{_SERVER} to send alerts",
    "mark_preempting": f"{_SERVER} to tell about preemption",
    "sweep": "satchel has no hyperparameter sweeps",
    "agent": "satchel has no hyperparameter sweeps",
    "controller": "satchel has no hyperparameter sweeps",
    "join": "use satchel.finish()",
    "plot": _METRICS,
    "plot_table": _METRICS,
    "ArtifactTTL": "satchel has no team default TTL to inherit; set artifact.ttl to a "
    "datetime.timedelta (or None: keep for ever)",
    "termlog": "use print() or the logging module",
    "termwarn": "use warnings.warn() or the logging module",
    "termerror": "use print(..., file=sys.stderr) or the logging module",
    "require": "satchel has no optional W&B features to require",
    **{
        name: f"{_METRICS}; store the object's bytes with artifact.add(obj, name) or add_file"
        for name in (
            "Table",
            "Image",
            "Plotly",
            "Video",
            "Audio",
            "Html",
            "Object3D",
            "Molecule",
            "Histogram",
            "Graph",
            "Classes",
            "JoinedTable",
            "EvalTable",
            "box3d",
        )
    },
}


def missing(name: str) -> NotInSatchelError | None:
    """The error for W&B name ``name``, or ``None`` when it is not a W&B name satchel lacks."""
    hint = HINTS.get(name)
    if hint is None:
        return None
    return NotInSatchelError(f"satchel has no {name!r} (W&B's wandb.{name}): {hint}")


_NO_SERVER_API = (
    "satchel has no server; its Api reads artifacts, versions, collections, types, projects "
    "and runs' lineage from the store"
)
_RUN_ONLY_LINEAGE = (
    "a satchel run records which artifact versions it used and logged (and its config), not "
    "metrics, files or history"
)

#: W&B 0.31 ``Api`` methods satchel's ``Api`` lacks
API_NAMES = frozenset(
    {
        "registries",
        "registry",
        "create_registry",
        "reports",
        "sweep",
        "create_project",
        "create_run",
        "create_team",
        "team",
        "user",
        "users",
        "viewer",
        "organization",
        "automation",
        "automations",
        "create_automation",
        "update_automation",
        "delete_automation",
        "integrations",
        "slack_integrations",
        "webhook_integrations",
        "job",
        "list_jobs",
        "queued_run",
        "run_queue",
        "create_run_queue",
        "upsert_run_queue",
        "create_custom_chart",
        "sync_tensorboard",
        "flush",
        "from_path",
        "create_user",
        "user_agent",
        "api_key",
    }
)

#: W&B 0.31 ``Run`` (SDK and public API) attributes satchel's ``Run`` lacks
RUN_NAMES = frozenset(
    {
        "log",
        "summary",
        "alert",
        "define_metric",
        "watch",
        "unwatch",
        "save",
        "restore",
        "mark_preempting",
        "log_code",
        "status",
        "to_html",
        "display",
        "plot_table",
        "step",
        "dir",
        "sweep_id",
        "history",
        "scan_history",
        "files",
        "file",
        "upload_file",
        "wait_until_finished",
        "sweep",
        "system_metrics",
        "lastHistoryStep",
        "update",
        "delete",
    }
)


def missing_on(owner: str, name: str) -> NotInSatchelError | None:
    """The error for W&B attribute ``name`` of satchel's ``Api`` or ``Run`` (``owner``), or
    ``None`` when W&B has no such attribute either."""
    if owner == "Api" and name in API_NAMES:
        hint = _NO_SERVER_API
    elif owner == "Run" and name in RUN_NAMES:
        hint = _RUN_ONLY_LINEAGE
    else:
        return None
    return NotInSatchelError(f"satchel's {owner} has no {name!r} (W&B's {owner}.{name}): {hint}")
