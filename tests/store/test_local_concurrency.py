"""Real processes committing to one local store at once, and processes killed mid-commit.

Every process here is a real ``python`` child running satchel's public API against the test's
store (``$SATCHEL_STORE``) and a shared cache (``$SATCHEL_CACHE_DIR``), as several jobs on one
machine would.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from satchel import Api
from tests.conftest import SatchelEnv, read_tree

# argv: mode, name, index, go-file. Waits for the go-file so that all children commit at once.
CHILD = r"""
import os, sys, time
import satchel
mode, name, index, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
if mode == "full":
    art = satchel.Artifact(name, "dataset")
    art.add(f"content of writer {index}", "writer.txt")
    art.add({"index": index}, "meta.json")
else:
    art = satchel.Artifact(name, "dataset", incremental=True)
    art.add(f"part {index}", f"parts/p{index}.txt")
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.005)
art.save(aliases=[f"w{index}"])
print(art.version, flush=True)
"""

# argv: index, files. Builds a big artifact, says "saving", then commits it.
BIG = r"""
import os, sys
import satchel
index, n = int(sys.argv[1]), int(sys.argv[2])
art = satchel.Artifact("big", "dataset")
for i in range(n):
    art.add(os.urandom(16 * 1024) + f"{index}:{i}".encode(), f"part-{i:04d}.bin")
print("saving", flush=True)
art.save()
print("committed", art.version, flush=True)
"""


def _spawn(code: str, *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run_writers(mode: str, name: str, n: int, tmp_path: Path) -> list[str]:
    go = tmp_path / f"go-{name}"
    procs = [_spawn(CHILD, mode, name, i, go) for i in range(n)]
    for p in procs:
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "ready", p.stderr.read() if p.stderr else ""
    go.touch()
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(out.strip())
    return outs


def test_concurrent_writers_get_distinct_gapless_versions(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    n = 6
    versions = _run_writers("full", "shared", n, tmp_path)
    assert sorted(versions, key=lambda v: int(v[1:])) == [f"v{i}" for i in range(n)]
    api = satchel_env.api()
    assert [a.version for a in api.versions("shared")] == [f"v{i}" for i in range(n)]
    ids = set()
    for i in range(n):
        art = api.artifact(f"shared:w{i}")  # each writer's alias names its own version
        assert art.version == versions[i]
        assert art["writer.txt"] == f"content of writer {i}"
        assert art["meta.json"] == {"index": i}
        ids.add(art.id)
    assert len(ids) == n


def test_concurrent_incremental_writers_lose_no_change(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    n = 5
    versions = _run_writers("incremental", "inc", n, tmp_path)
    assert sorted(int(v[1:]) for v in versions) == list(range(n))
    latest = satchel_env.api().artifact("inc:latest")
    assert sorted(e.path for e in latest.manifest) == [f"parts/p{i}.txt" for i in range(n)]
    out = latest.download(tmp_path / "out")
    assert read_tree(out) == {f"parts/p{i}.txt": f"part {i}".encode() for i in range(n)}


def test_killed_commits_leave_no_partial_version(tmp_path: Path, satchel_env: SatchelEnv) -> None:
    def start(index: int) -> tuple[subprocess.Popen[str], float]:
        proc = _spawn(BIG, index, 120)
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line == "saving", proc.stderr.read() if proc.stderr else ""
        return proc, time.monotonic()

    # Calibrate: how long does a commit take here, from "saving" to "committed"?
    proc, t0 = start(0)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("committed")
    duration = time.monotonic() - t0
    proc.communicate(timeout=60)

    rng = random.Random(1234)
    outcomes = []
    for attempt in range(1, 6):
        proc, t0 = start(attempt)
        # kill at a random moment inside the commit (the first attempts early, then later)
        delay = duration * rng.uniform(0.05, 0.95) * min(1.0, attempt / 3)
        time.sleep(max(0.0, t0 + delay - time.monotonic()))
        proc.send_signal(signal.SIGKILL)
        out, _err = proc.communicate(timeout=60)
        outcomes.append("committed" if "committed" in out else "killed")
    assert "killed" in outcomes, outcomes  # at least one kill landed mid-commit

    # A survivor commits fine afterwards (no stale lock, no half-written record in the way).
    survivor = _spawn(BIG, 99, 20)
    out, err = survivor.communicate(timeout=60)
    assert survivor.returncode == 0, err

    # Every visible version is complete: read from the store through a fresh cache.
    api = Api(str(satchel_env.store), cache_dir=str(tmp_path / "fresh-cache"))
    versions = api.versions("big")
    assert [a.version_index for a in versions] == list(range(len(versions)))  # gapless
    for art in versions:
        folder = art.download(tmp_path / "check" / art.version)
        art.verify(folder)
        assert len(read_tree(folder)) == art.file_count
    assert versions[-1].file_count == 20
    # A process killed while writing a record can leave only a hidden temporary file (gc's job),
    # never a record: every visible name is a complete version record.
    folder = satchel_env.store / "projects" / "default" / "artifacts" / "big" / "versions"
    visible = [r for r in os.listdir(folder) if not r.startswith(".")]
    assert sorted(visible) == sorted(f"{a.version_index}.json" for a in versions)
    hidden = [r for r in os.listdir(folder) if r.startswith(".")]
    assert all(r.endswith(".tmp") for r in hidden)


@pytest.mark.parametrize("writers", [4])
def test_concurrent_alias_moves_end_consistent(
    tmp_path: Path, satchel_env: SatchelEnv, writers: int
) -> None:
    # Every writer also points the shared alias "prod" at its version: the alias ends up
    # naming exactly one existing version, as an alias always does.
    code = CHILD.replace('aliases=[f"w{index}"]', 'aliases=[f"w{index}", "prod"]')
    go = tmp_path / "go"
    procs = [_spawn(code, "full", "al", i, go) for i in range(writers)]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    go.touch()
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    prod = satchel_env.api().artifact("al:prod")
    assert prod.version in {f"v{i}" for i in range(writers)}
    aliases_seen = [a for v in satchel_env.api().versions("al") for a in v.aliases if a == "prod"]
    assert aliases_seen == ["prod"]
