"""Declared backend capabilities: every backend says what it offers beyond the primitives, and
the optional members have "unsupported" defaults (no caller probes for members)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from satchel.store import Store
from satchel.store.backend import BackendDefaults, Capabilities
from satchel.store.local import LocalBackend
from tests.store.conftest import (
    StoreCase,
    store_case_fixture,  # noqa: F401 - provides the store_case fixture
)

#: what each store kind declares (README "Stores" and store/backend.py's table)
DECLARED = {
    "local": Capabilities(freshen=True, fingerprints=True),
    "memory": Capabilities(freshen=True, conditional_delete=True),
    "s3": Capabilities(freshen=True, fingerprints=True),
    "gcs": Capabilities(freshen=True, conditional_delete=True, fingerprints=True),
    "azure": Capabilities(freshen=True, conditional_delete=True, fingerprints=True),
}


def test_every_backend_declares_its_capabilities(store_case: StoreCase) -> None:
    backend = store_case.open().backend
    assert isinstance(backend, BackendDefaults)
    assert backend.capabilities == DECLARED[store_case.kind]
    assert backend.io_workers == (None if store_case.kind == "local" else 16)
    backend.create_if_absent("f/a.json", b"1")
    listed = backend.list_detailed("f")
    assert list(listed) == ["a.json"]
    fingerprint, _mtime = listed["a.json"]
    assert (fingerprint is not None) == backend.capabilities.fingerprints
    assert backend.touch("f/a.json") is True
    assert backend.touch("f/gone.json") is False


class _NamesOnly(BackendDefaults):
    """A backend with nothing optional: names and sizes from a dict."""

    url = "names-only://"

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {"f/a.json": b"12"}

    def list(self, prefix: str, *, hidden: bool = False) -> list[str]:
        return sorted(k[len(prefix) + 1 :] for k in self.files if k.startswith(prefix + "/"))

    def walk(self, prefix: str) -> Iterator[tuple[str, int]]:
        for k, v in sorted(self.files.items()):
            if k.startswith(prefix + "/"):
                yield k, len(v)

    def put_file(self, key: str, local_path: str) -> None:
        self.files[key] = Path(local_path).read_bytes()


def test_the_unsupported_defaults_do_nothing_they_cannot_undo(tmp_path: Path) -> None:
    backend = _NamesOnly()
    assert backend.capabilities == Capabilities()
    assert backend.io_workers is None
    assert backend.touch("f/a.json") is False  # not freshened: the caller uploads again
    assert backend.delete_if_old("f/a.json", cutoff=1e12) is False
    assert backend.files == {"f/a.json": b"12"}  # nothing deleted
    assert backend.list_detailed("f") == {"a.json": (None, None)}
    assert list(backend.walk_detailed("f")) == [("f/a.json", 2, None)]
    assert backend.modified_time("f/a.json") is None
    given = tmp_path / "given.bin"
    given.write_bytes(b"payload")
    backend.move_file("objects/x", str(given))
    assert backend.files["objects/x"] == b"payload"
    assert given.read_bytes() == b"payload"  # uploaded, left where it is


def test_a_local_store_lists_with_its_own_backend_member(tmp_path: Path) -> None:
    store = Store(LocalBackend(str(tmp_path / "store")))
    store.backend.create_if_absent("v/0.json", b"0")
    (tmp_path / "store" / "v" / ".tmp-x").write_bytes(b"")
    first = store.backend.list_detailed("v")
    assert list(first) == ["0.json"]
    assert set(store.backend.list_detailed("v", hidden=True)) == {"0.json", ".tmp-x"}
    _data, token = store.backend.read_token("v/0.json")
    assert store.backend.replace_if_unchanged("v/0.json", b"changed", token)
    assert store.backend.list_detailed("v")["0.json"][0] != first["0.json"][0]
    hidden: list[str] = []
    walked = {k for k, _s, _t in store.backend.walk_detailed("v", hidden=hidden)}
    assert "v/0.json" in walked
    assert "v/.tmp-x" not in walked
    assert hidden == [str(tmp_path / "store" / "v" / ".tmp-x")]
    assert store.backend.modified_time("v/0.json") is not None
    assert store.backend.modified_time("v/9.json") is None
