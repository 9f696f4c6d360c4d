"""The store's two contention helpers, on local disk, ``memory://`` and S3 (moto) (and the race
of threads on one record on every store kind).

:meth:`Store.claim_next_version` ("claim the next number": commits and links) and
:meth:`Store.compare_and_swap` ("compare-and-swap update": aliases, attributes, collection and
run records) are the only retry loops over the two atomic backend primitives. Writers here are
threads with their own :class:`Store` objects on one store; the commit races between real
processes are in ``tests/store/test_store_conformance.py``.
"""

from __future__ import annotations

import json

import pytest

import satchel.store.store as store_module
from satchel.errors import ConcurrentUpdateError
from satchel.parallel import run_parallel
from satchel.store import Store, layout
from satchel.store.records import VersionRecord, decode_version, encode
from tests.store.conftest import (
    StoreCase,
    quick_store_case_fixture,  # noqa: F401 - provides the quick_store_case fixture
    store_case_fixture,  # noqa: F401 - provides the store_case fixture
)

PROJECT, NAME = "conf", "ds"


def _record(number: int, writer: str) -> VersionRecord:
    return VersionRecord(
        id=writer, project=PROJECT, name=NAME, version=number, type="dataset",
        manifest="m" * 64, digest="d", size=0, file_count=0, created_at="2026-01-01T00:00:00Z",
        created_by="test",
    )  # fmt: skip


def test_claims_give_every_writer_its_own_gapless_number(quick_store_case: StoreCase) -> None:
    stores = [quick_store_case.open() for _ in range(6)]
    asked: list[int] = []

    def claim(i: int) -> VersionRecord | None:
        def propose(number: int, _listing: layout.VersionListing) -> VersionRecord:
            asked.append(number)
            return _record(number, f"writer-{i}")

        return stores[i].claim_next_version(PROJECT, NAME, propose, what=f"claim {i}")

    claimed = run_parallel(claim, range(6), workers=6)
    numbers = sorted(r.version for r in claimed if r is not None)
    assert numbers == list(range(6))
    store = quick_store_case.open()
    for rec in claimed:
        assert rec is not None
        key = layout.version_key(PROJECT, NAME, rec.version)
        stored = decode_version(store.backend.read(key), PROJECT, NAME, rec.version, key)
        assert stored.id == rec.id  # the record at each number is its claimant's
    assert len(asked) >= 6


def test_a_claim_of_nothing_writes_nothing(quick_store_case: StoreCase) -> None:
    store = quick_store_case.open()
    assert store.claim_next_version(PROJECT, NAME, lambda _n, _l: None, what="claim") is None
    assert store.backend.list(layout.versions_folder(PROJECT, NAME)) == []


def test_a_claim_lost_every_time_gives_up_naming_the_operation(
    quick_store_case: StoreCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "MAX_ATTEMPTS", 3)
    store = quick_store_case.open()
    rival = quick_store_case.open()

    def propose(number: int, _listing: layout.VersionListing) -> VersionRecord:
        # another writer takes the number between this writer's listing and its write
        assert rival.backend.create_if_absent(
            layout.version_key(PROJECT, NAME, number), encode(_record(number, "rival"))
        )
        return _record(number, "loser")

    with pytest.raises(
        ConcurrentUpdateError,
        match=r"^could not link a into b after 3 attempts: "
        r"too many concurrent writers; try again$",
    ):
        store.claim_next_version(PROJECT, NAME, propose, what="link a into b")
    assert store.live_versions(PROJECT, NAME) == [0, 1, 2]  # the rival's three, nothing lost
    assert all(store.read_version(PROJECT, NAME, n).id == "rival" for n in range(3))


def _add_one(old: bytes | None) -> bytes:
    return json.dumps({"n": (json.loads(old)["n"] if old else 0) + 1}).encode()


def test_concurrent_updates_lose_no_change(store_case: StoreCase) -> None:
    stores = [store_case.open() for _ in range(4)]

    def edit(i: int) -> None:
        def add_one(old: bytes | None) -> bytes:
            # each writer's bytes differ from every other's: a remote backend takes a 412 on
            # a key that already holds exactly the bytes it meant to write as its own success
            # (RemoteBackend.replace_if_unchanged: the retried-write case), so two writers
            # writing the same bytes would count as one
            n = (json.loads(old)["n"] if old else 0) + 1
            return json.dumps({"n": n, "by": i}).encode()

        for _ in range(5):
            stores[i].compare_and_swap("counter.json", add_one)

    run_parallel(edit, range(4), workers=4)
    assert json.loads(store_case.open().backend.read("counter.json"))["n"] == 20


def test_an_update_that_changes_nothing_writes_nothing(quick_store_case: StoreCase) -> None:
    store = quick_store_case.open()
    store.compare_and_swap("absent.json", lambda _old: None)
    assert not store.backend.exists("absent.json")
    store.compare_and_swap("k.json", lambda _old: b"1")
    _data, token = store.backend.read_token("k.json")
    store.compare_and_swap("k.json", lambda old: old)
    assert store.backend.read_token("k.json") == (b"1", token)


def test_an_update_that_raises_writes_nothing(quick_store_case: StoreCase) -> None:
    store = quick_store_case.open()

    def refuse(_old: bytes | None) -> bytes:
        raise LookupError("no such record")

    with pytest.raises(LookupError, match="no such record"):
        store.compare_and_swap("k.json", refuse)
    assert not store.backend.exists("k.json")


def test_an_update_lost_every_time_gives_up_naming_the_record(
    quick_store_case: StoreCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "MAX_ATTEMPTS", 3)
    store: Store = quick_store_case.open()
    rival = quick_store_case.open()
    store.compare_and_swap("k.json", lambda _old: b'{"n": 0}')

    def racing(old: bytes | None) -> bytes:
        # another writer changes the record between this writer's read and its write
        data, token = rival.backend.read_token("k.json")
        assert rival.backend.replace_if_unchanged("k.json", _add_one(data), token)
        return b'{"n": -1}'

    with pytest.raises(
        ConcurrentUpdateError,
        match=r"^could not update run p/r in .*: too many "
        r"concurrent writers; try again$",
    ):
        store.compare_and_swap("k.json", racing, what="run p/r")
    assert json.loads(store.backend.read("k.json")) == {"n": 3}  # the rival's three edits
