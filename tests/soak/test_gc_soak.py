"""The gc-vs-commit soak, short: a few seconds per store kind (tests/soak/conftest.py).

gc loops with no grace at all (``grace=0, force=True``, the worst case) while three writer
processes commit overlapping content, save new_drafts of each other's versions, re-commit
unchanged content and delete versions; afterwards every committed version must download from
an empty cache, verify and hold what was committed, and fsck must be clean. The long version is
``benchmarks/soak_gc.py --seconds N``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.soak.conftest import run_soak
from tests.store.conftest import StoreCase, store_case_fixture  # noqa: F401 - fixture

SECONDS = 2.0


@pytest.mark.timeout(240)
def test_gc_with_no_grace_never_loses_a_committed_version(
    store_case: StoreCase, tmp_path: Path
) -> None:
    report = run_soak(store_case, tmp_path / "soak", seconds=SECONDS, writers=3)
    print(json.dumps(report.to_dict()))  # the figures, for `pytest -s` and the README
    assert report.errors == []
    assert report.lost == [] and report.fsck_problems == []
    assert report.commits + report.no_ops >= 2 * 3 and report.deletes >= 1 and report.gc_runs >= 2
    assert report.no_ops >= 1 and report.new_drafts >= 1  # the seeds' first rounds hold both
    assert report.removed_objects > 0  # gc really removed content while commits ran
    assert report.versions_checked == report.commits - report.deletes
