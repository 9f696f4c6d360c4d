"""The registry: find, filter and page through versions; stages, deletion and gc; copy, link;
lineage. ``Api`` and ``Artifact`` delegate here; the CLI is :mod:`satchel.cli.registry`. It
speaks store records and versions (:class:`~satchel.version.Version`) and never imports the
``Artifact`` or ``Api`` above it (applying specs and importing W&B manifests build artifacts,
so they live beside ``api.py``: :mod:`satchel.apply`, :mod:`satchel.wandb_import`).

=====================  ======================================================================
module                 what it does
=====================  ======================================================================
``query``              :class:`VersionQuery` (validated filters, sort, page) and :class:`Page`
``index``              the per-collection listing index (a cache; records stay the truth)
``scan``               listings with fingerprints and modification times, per backend
``listing``            answer queries; list collections and types
``stages``             development / staging / production / archived, with history
``delete``             tombstones; aliases protect a version unless removed with it
``gc``                 expire TTLs; remove content no live version uses, after a grace period
``copy``               copy / transfer a version to another project, name or store
``link``               portfolio links (a version record sharing the source's manifest)
``lineage``            run records, "used by" markers, the lineage graph and its DOT form
=====================  ======================================================================
"""

from __future__ import annotations

from satchel.registry.gc import GcReport, collect_garbage, parse_duration
from satchel.registry.listing import CollectionSummary
from satchel.registry.query import Page, VersionQuery
from satchel.registry.stages import STAGES, StageEvent

__all__ = [
    "STAGES",
    "CollectionSummary",
    "GcReport",
    "Page",
    "StageEvent",
    "VersionQuery",
    "collect_garbage",
    "parse_duration",
]
