"""Saving a ``new_draft()`` back into its base version's store checks only the objects it added
(satchel.commit.Uploader._inherited); a deleted base, or another store, means every object is
checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from satchel import Artifact, StoreError
from satchel.fsck import check_store
from satchel.registry.delete import delete_version
from satchel.store import layout, open_store
from tests.core_fixtures import SatchelEnv, read_tree, write_tree

FILES = {"a.txt": b"alpha", "b/c.txt": b"gamma", "b/d.txt": b"delta"}


def _commit(tmp_path: Path) -> Artifact:
    write_tree(tmp_path / "data", FILES)
    art = Artifact("ds", "dataset")
    art.add_dir(tmp_path / "data")
    return art.save()


def _object_file(env: SatchelEnv, art: Artifact, path: str) -> Path:
    entry = art.get_entry(path)
    return env.store / layout.object_key(entry.alg, entry.oid)


def test_inherited_objects_are_not_checked_when_saving_to_the_base_store(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    v0 = _commit(tmp_path)
    draft = v0.new_draft()
    (tmp_path / "new.txt").write_bytes(b"replaced")
    draft.add_file(tmp_path / "new.txt", name="a.txt", overwrite=True)
    # Damage the store behind satchel's back: an unchanged file's object disappears.
    _object_file(satchel_env, v0, "b/c.txt").unlink()
    v1 = draft.save()
    assert v1.version == "v1" and v1.based_on == "v0"
    # Nothing looked for it (the trade documented on Uploader._inherited); fsck reports it.
    kinds = {p.kind for p in check_store(satchel_env.open_store()).problems}
    assert kinds == {"missing-object"}
    assert _object_file(satchel_env, v1, "a.txt").read_bytes() == b"replaced"


def test_every_object_is_checked_when_the_base_version_was_deleted(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    v0 = _commit(tmp_path)
    draft = v0.new_draft()
    (tmp_path / "new.txt").write_bytes(b"replaced")
    draft.add_file(tmp_path / "new.txt", name="a.txt", overwrite=True)
    store = satchel_env.open_store()
    delete_version(store, store.version("default", "ds", 0))
    _object_file(satchel_env, v0, "b/c.txt").unlink()
    lost = v0.get_entry("b/c.txt")
    # a commit to a local store keeps no cache copy of what it stored
    assert not (satchel_env.cache / "objects" / lost.alg / lost.oid[:2] / lost.oid[2:]).exists()
    with pytest.raises(StoreError, match="content of b/c.txt .* is in neither the store"):
        draft.save()


def test_every_object_is_copied_when_saving_to_another_store(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    v0 = _commit(tmp_path)
    draft = v0.new_draft()
    draft.remove("b/d.txt")
    other = tmp_path / "other-store"
    v1 = draft.save(store=str(other))
    assert v1.version == "v0"
    root = Path(v1.download(tmp_path / "out"))
    assert read_tree(root) == {"a.txt": b"alpha", "b/c.txt": b"gamma"}
    assert check_store(open_store(str(other))).problems == ()
