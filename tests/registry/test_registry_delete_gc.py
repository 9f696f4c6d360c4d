"""Deleting versions (tombstones, aliases, numbers never reused) and gc (grace period, TTL,
dry run, bytes freed), including gc racing real committing processes."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from satchel import Api, ArtifactState
from satchel.errors import (
    AliasProtectedError,
    ArtifactDeletedError,
    ArtifactStateError,
    GraceTooShortError,
    InvalidQueryError,
)
from satchel.registry import collect_garbage, parse_duration
from satchel.registry.gc import DEFAULT_GRACE, MIN_GRACE, format_duration
from satchel.store import layout
from tests.conftest import SatchelEnv
from tests.registry.conftest import commit, versions

LATER = time.time() + 7200  # "now" for gc runs that should see everything as old


@pytest.fixture
def api(satchel_env: SatchelEnv) -> Api:
    api = satchel_env.api("p")
    commit(api, "ds", {"shared": "same in every version", "own": "zero"})
    commit(api, "ds", {"shared": "same in every version", "own": "one!"}, aliases=["prod"])
    commit(api, "ds", {"shared": "same in every version", "own": "two"})
    return api


def objects(env: SatchelEnv) -> set[str]:
    root = env.store / "objects"
    return {p.relative_to(env.store).as_posix() for p in root.rglob("*") if p.is_file()}


# -- delete ----------------------------------------------------------------------------------
def test_delete_refuses_while_aliases_point_at_the_version(api: Api) -> None:
    art = api.artifact("ds:v1")
    with pytest.raises(
        AliasProtectedError,
        match=r"p/ds:v1 still has alias\(es\) prod; move them "
        r"to another version, or delete with "
        r"delete_aliases=True",
    ) as info:
        art.delete()
    assert info.value.aliases == ["prod"]
    assert api.artifact("ds:v1").state is ArtifactState.COMMITTED


def test_delete_with_aliases_removes_them(api: Api) -> None:
    art = api.artifact("ds:prod")
    art.delete(delete_aliases=True)
    assert art.state is ArtifactState.DELETED and art.aliases == []
    assert not api.artifact_exists("ds:prod")


def test_deleted_version_vanishes_with_a_clear_error(api: Api) -> None:
    api.artifact("ds:v2").delete()
    assert api.artifact("ds").version == "v1"  # latest moved back
    assert versions(api.artifact_versions("ds")) == ["ds:v1", "ds:v0"]
    assert [a.version for a in api.versions("ds")] == ["v0", "v1"]
    with pytest.raises(ArtifactDeletedError, match=r"p/ds:v2 was deleted; pick another version"):
        api.artifact("ds:v2")
    assert not api.artifact_exists("ds:v2")


def test_deleted_numbers_are_never_reused(api: Api) -> None:
    api.artifact("ds:v2").delete()
    collect_garbage(api.store, grace=0, force=True, now=LATER)
    assert commit(api, "ds", {"own": "three"}).version == "v3"


def test_delete_twice_and_edit_after_delete_are_refused(api: Api) -> None:
    art = api.artifact("ds:v0")
    art.delete()
    with pytest.raises(ArtifactDeletedError, match=r"p/ds:v0 was already deleted"):
        art.delete()
    with pytest.raises(ArtifactStateError, match=r"was deleted and cannot change"):
        art.tags = ["x"]


def test_delete_writes_a_tombstone_and_keeps_the_record(api: Api, satchel_env: SatchelEnv) -> None:
    api.artifact("ds:v0").delete()
    assert (satchel_env.store / layout.tombstone_key("p", "ds", 0)).exists()
    assert (satchel_env.store / layout.version_key("p", "ds", 0)).exists()


# -- gc --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1h", 3600),
        ("30m", 1800),
        ("2d", 172800),
        ("1h30m", 5400),
        ("45s", 45),
        ("0", 0),
        ("1.5h", 5400),
        ("1w", 604800),
        (90, 90),
    ],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["soon", "1y", "h1", "-5"])
def test_parse_duration_refuses_nonsense(text: str) -> None:
    with pytest.raises(
        InvalidQueryError, match=r"is not understood; use a number with s, m, h, d or w"
    ):
        parse_duration(text)


def test_gc_removes_content_only_deleted_versions_used(api: Api, satchel_env: SatchelEnv) -> None:
    before = objects(satchel_env)
    v0 = api.artifact("ds:v0")
    own = v0.get_entry("own")
    manifest_size = (satchel_env.store / layout.manifest_key(v0.commit_hash)).stat().st_size
    v0.delete()
    report = collect_garbage(api.store, grace="1h", now=LATER)
    assert report.objects == (layout.object_key("md5", own.oid),)
    assert report.manifests == (layout.manifest_key(v0.commit_hash),)
    assert report.bytes_freed == own.size + manifest_size
    assert objects(satchel_env) == before - set(report.objects)
    for ref in ("ds:v1", "ds:v2"):  # the shared object stays, everything live verifies
        art = api.artifact(ref)
        art.verify(art.download(str(satchel_env.work / ref.replace(":", "-"))))


def test_gc_dry_run_changes_nothing(api: Api, satchel_env: SatchelEnv) -> None:
    api.artifact("ds:v0").delete()
    before = objects(satchel_env)
    dry = collect_garbage(api.store, grace=0, dry_run=True, now=LATER)
    assert dry.dry_run and len(dry.objects) == 1 and dry.bytes_freed > 0
    assert objects(satchel_env) == before
    real = collect_garbage(api.store, grace=0, force=True, now=LATER)
    assert real.objects == dry.objects and real.bytes_freed == dry.bytes_freed


def test_gc_keeps_unreferenced_content_younger_than_the_grace_period(
    api: Api, satchel_env: SatchelEnv
) -> None:
    api.artifact("ds:v0").delete()
    report = collect_garbage(api.store)  # default grace 1h; everything was written just now
    assert report.objects == () and report.manifests == () and report.kept_young >= 2
    # a commit that crashed before its commit point leaves young, unreferenced content
    crashed = commit(api, "crashed", {"x": "never committed"})
    (satchel_env.store / layout.version_key("p", "crashed", 0)).unlink()
    assert collect_garbage(api.store, grace="10m", force=True).objects == ()
    gone = collect_garbage(api.store, grace="10m", force=True, now=LATER)
    assert layout.object_key("md5", crashed.get_entry("x").oid) in gone.objects


def test_gc_deletes_expired_versions_unless_an_alias_protects_them(api: Api) -> None:
    for ref in ("ds:v0", "ds:v1", "ds:v2"):
        art = api.artifact(ref)
        art.ttl = dt.timedelta(minutes=30)
        art.save()
    report = collect_garbage(api.store, grace="1h", now=time.time() + 3600)
    # v1 has the alias "prod"; v2 is latest, which protects nothing
    assert report.expired == ("p/ds:v0", "p/ds:v2")
    assert versions(api.artifact_versions("ds")) == ["ds:v1"]
    with pytest.raises(ArtifactDeletedError):
        api.artifact("ds:v0")


def test_gc_does_not_expire_before_the_ttl(api: Api) -> None:
    art = api.artifact("ds:v0")
    art.ttl = dt.timedelta(days=1)
    art.save()
    assert collect_garbage(api.store, now=time.time() + 3600).expired == ()


def test_gc_keeps_content_of_a_link_whose_source_was_deleted(
    api: Api, satchel_env: SatchelEnv
) -> None:
    link = api.artifact("ds:v0").link("portfolio")
    api.artifact("ds:v0").delete()
    report = collect_garbage(api.store, grace=0, force=True, now=LATER)
    assert report.objects == () and report.manifests == ()
    folder = link.download(str(satchel_env.work / "linked"))
    assert (Path(folder) / "own").read_text() == "zero"


def test_gc_keeps_every_object_when_a_live_manifest_is_missing(
    api: Api, satchel_env: SatchelEnv
) -> None:
    api.artifact("ds:v0").delete()
    manifest = api.artifact("ds:v2").commit_hash
    (satchel_env.store / layout.manifest_key(manifest)).unlink()
    before = objects(satchel_env)
    fresh = satchel_env.api("p")  # no manifest cached in memory
    report = collect_garbage(fresh.store, grace=0, force=True, now=LATER)
    # v0's manifest is provably unused and goes; no object does (the lost manifest could
    # name any of them)
    assert report.objects == () and len(report.manifests) == 1
    assert report.unreadable == (
        f"p/ds:v2: manifest {manifest} is missing from store {fresh.store.url}; run 'satchel fsck'",
    )
    assert report.kept_unreadable == 2  # v0's own object, and v2's (only its manifest knew)
    assert objects(satchel_env) == before


def test_gc_refuses_a_negative_or_bad_grace(api: Api) -> None:
    with pytest.raises(InvalidQueryError, match=r"duration '-1h' is not understood"):
        collect_garbage(api.store, grace="-1h")


# -- gc racing commits -------------------------------------------------------------------------
_COMMITTER = textwrap.dedent(
    """
    import os, random, sys
    import satchel

    api = satchel.Api(project="p")
    rng = random.Random(int(sys.argv[1]))
    worker = sys.argv[1]
    for i in range(int(sys.argv[2])):
        art = satchel.Artifact("race", "dataset")
        with art.new_file("shared.txt") as f:          # shared with every other version
            f.write("shared content")
        with art.new_file(f"own-{worker}-{i}.bin", mode="xb") as f:  # fresh content
            f.write(os.urandom(rng.randint(1, 20000)))
        with art.new_file("small.txt") as f:           # often repeats an older version's
            f.write(str(rng.randint(0, 5)))
        art.save()
        print(art.version, flush=True)
        if i % 3 == 1:                                 # make garbage while gc runs
            api.artifact(f"race:{art.version}").delete()
            print("deleted", art.version, flush=True)
    """
)


def test_gc_racing_committing_processes_never_loses_a_commit(
    satchel_env: SatchelEnv, tmp_path: Path
) -> None:
    script = tmp_path / "committer.py"
    script.write_text(_COMMITTER)
    procs = []
    for worker in range(2):
        env = dict(
            os.environ, SATCHEL_PROJECT="p", SATCHEL_CACHE_DIR=str(tmp_path / f"cache-{worker}")
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, str(script), str(worker), "12"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    store = satchel_env.open_store()
    runs = 0
    removed = 0
    deadline = time.monotonic() + 120
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        # grace 1 s: garbage from a second ago goes while commits (each well under 1 s) run
        report = collect_garbage(store, grace="1s", force=True)
        removed += len(report.objects)
        runs += 1
    outputs = [p.communicate(timeout=60) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
    assert runs >= 2
    time.sleep(1.1)
    removed += len(collect_garbage(store, grace="1s", force=True).objects)
    assert removed > 0  # gc really deleted things while the commits ran

    api = satchel_env.api("p")
    live = api.artifact_versions("race", size=10_000, sort_by="version")
    deleted = {
        line.split()[1]
        for out, _ in outputs
        for line in out.splitlines()
        if line.startswith("deleted")
    }
    committed = {
        line for out, _ in outputs for line in out.splitlines() if not line.startswith("deleted")
    }
    assert {a.version for a in live} == committed - deleted
    for art in live:
        folder = art.download(str(satchel_env.work / "dl" / art.version), skip_cache=True)
        art.verify(folder)


def test_content_a_commit_reuses_is_freshened_so_gc_keeps_it(
    api: Api, satchel_env: SatchelEnv
) -> None:
    old = commit(api, "reuse", {"x": "content reused later"})
    oid = old.get_entry("x").oid
    old.delete()
    time.sleep(1.2)  # now older than a 1 s grace period
    assert api.store.missing_objects([("md5", oid)]) == set()  # a committer's check touches it
    report = collect_garbage(api.store, grace="1s", force=True)
    assert layout.object_key("md5", oid) not in report.objects
    again = commit(api, "reuse", {"x": "content reused later"})
    again.verify(again.download(str(satchel_env.work / "again")))


def test_a_vanished_object_counts_as_missing(api: Api, satchel_env: SatchelEnv) -> None:
    oid = api.artifact("ds:v0").get_entry("own").oid
    (satchel_env.store / layout.object_key("md5", oid)).unlink()
    assert api.store.missing_objects([("md5", oid)]) == {("md5", oid)}


def test_a_grace_below_the_minimum_needs_force(api: Api, satchel_env: SatchelEnv) -> None:
    assert MIN_GRACE == dt.timedelta(hours=1) and DEFAULT_GRACE >= MIN_GRACE
    api.artifact("ds:v0").delete()
    with pytest.raises(
        GraceTooShortError,
        match=(
            r"^gc grace 59m59s is shorter than the safe minimum of 1h: a commit by a satchel "
            r"without leases, or one running longer than a lease lasts, could lose content it "
            r"uploaded\. Use a grace of at least 1h, or --force \(force=True in Python\) to "
            r"remove content that young anyway$"
        ),
    ):
        collect_garbage(api.store, grace="59m59s", now=LATER)
    assert isinstance(GraceTooShortError("x"), InvalidQueryError)
    before = objects(satchel_env)
    dry = collect_garbage(api.store, grace=0, dry_run=True, now=LATER)  # removes nothing
    assert dry.objects and objects(satchel_env) == before
    assert collect_garbage(api.store, grace="1h", now=LATER).objects == dry.objects


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.5, "0.5s"),
        (45, "45s"),
        (1800, "30m"),
        (3600, "1h"),
        (5400, "1h30m"),
        (90061, "1d1h1m1s"),
        (1209600, "2w"),
    ],
)
def test_format_duration_is_what_parse_duration_reads(seconds: float, text: str) -> None:
    assert format_duration(dt.timedelta(seconds=seconds)) == text
    assert parse_duration(text) == dt.timedelta(seconds=seconds)


def test_negative_grace_is_refused(api: Api) -> None:
    with pytest.raises(InvalidQueryError, match=r"duration must not be negative, got -5"):
        collect_garbage(api.store, grace=-5)
    with pytest.raises(InvalidQueryError, match=r"grace must not be negative, got -1 day"):
        collect_garbage(api.store, grace=dt.timedelta(days=-1))


def test_gc_removes_temporaries_killed_writers_left_and_restores_set_aside_objects(
    api: Api, satchel_env: SatchelEnv
) -> None:
    store = satchel_env.store
    versions_dir = store / layout.version_key("p", "ds", 0).rpartition("/")[0]
    left = versions_dir / ".3.json.0123456789ab.tmp"  # a commit killed while writing a record
    left.write_bytes(b"half a record")
    live = api.artifact("ds:v1").get_entry("own")
    obj = store / layout.object_key("md5", live.oid)
    aside = obj.with_name(f".{obj.name}.gc-0badc0de")  # a gc killed between rename and unlink
    os.rename(obj, aside)
    other = store / layout.object_key("md5", api.artifact("ds:v2").get_entry("own").oid)
    twin = other.with_name(f".{other.name}.gc-12345678")  # its original came back meanwhile
    os.link(other, twin)

    young = collect_garbage(api.store)  # everything is younger than the default grace
    assert young.temporaries == () and left.exists() and aside.exists()
    dry = collect_garbage(api.store, grace="1h", dry_run=True, now=LATER)
    assert len(dry.temporaries) == 3 and left.exists() and aside.exists()

    report = collect_garbage(api.store, grace="1h", now=LATER)
    assert sorted(report.temporaries) == sorted(
        p.relative_to(store).as_posix() for p in (left, aside, twin)
    )
    assert report.bytes_freed >= len(b"half a record")
    assert not left.exists() and not aside.exists() and not twin.exists()
    assert obj.exists() and other.exists()
    for ref in ("ds:v0", "ds:v1", "ds:v2"):
        art = api.artifact(ref)
        art.verify(art.download(str(satchel_env.work / ref.replace(":", "-"))))
