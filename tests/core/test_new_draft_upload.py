"""Saving a ``new_draft()`` back into its base version's store looks only for the objects it
added before the commit point (satchel.commit.Uploader._inherited); a deleted base, or another
store, means every object is looked for. After the commit point every object is checked
(Store.complete)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from satchel import Artifact, IncompleteCommitError, StoreError
from satchel.cache import Cache
from satchel.fsck import check_store
from satchel.registry.delete import delete_version
from satchel.store import Store, layout, open_store
from tests.conftest import SatchelEnv, read_tree, write_tree

FILES = {"a.txt": b"alpha", "b/c.txt": b"gamma", "b/d.txt": b"delta"}


def _commit(tmp_path: Path) -> Artifact:
    write_tree(tmp_path / "data", FILES)
    art = Artifact("ds", "dataset")
    art.add_dir(tmp_path / "data")
    return art.save()


def _object_file(env: SatchelEnv, art: Artifact, path: str) -> Path:
    entry = art.get_entry(path)
    return env.store / layout.object_key(entry.alg, entry.oid)


def test_inherited_objects_are_not_looked_for_before_the_commit_but_checked_after_it(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    v0 = _commit(tmp_path)
    draft = v0.new_draft()
    (tmp_path / "new.txt").write_bytes(b"replaced")
    draft.add_file(tmp_path / "new.txt", name="a.txt", overwrite=True)
    # Damage the store behind satchel's back: an unchanged file's object disappears.
    lost = _object_file(satchel_env, v0, "b/c.txt")
    lost.unlink()
    # this machine still has the bytes in its cache (a commit to a local store keeps none,
    # so put them there, as a download from a bucket would)
    Cache(str(satchel_env.cache)).add_bytes(b"gamma", alg="md5")
    v1 = draft.save()
    assert v1.version == "v1" and v1.based_on == "v0"
    # The post-commit check found it missing and sent it again from the cache.
    assert lost.read_bytes() == b"gamma"
    assert check_store(satchel_env.open_store()).problems == ()
    assert _object_file(satchel_env, v1, "a.txt").read_bytes() == b"replaced"


def test_an_inherited_object_lost_everywhere_fails_the_save_loudly_and_a_resave_repairs(
    tmp_path: Path, satchel_env: SatchelEnv
) -> None:
    v0 = _commit(tmp_path)
    draft = v0.new_draft()
    draft.remove("b/d.txt")
    entry = v0.get_entry("b/c.txt")
    _object_file(satchel_env, v0, "b/c.txt").unlink()
    # (a commit to a local store keeps no cache copy; none may be left here either way)
    (satchel_env.cache / "objects" / entry.alg / entry.oid[:2] / entry.oid[2:]).unlink(
        missing_ok=True
    )
    with pytest.raises(
        IncompleteCommitError,
        match=r"^default/ds:v1 is committed, but the content of 1 of its files is missing from "
        r"store .* and this machine has no copy to send again: b/c.txt\. Save the same "
        r"files again where they exist \(saving unchanged content restores what is "
        r"missing\), or see 'satchel fsck'$",
    ) as caught:
        draft.save()
    assert caught.value.version == "default/ds:v1" and caught.value.paths == ["b/c.txt"]
    # the same content saved again from files that have it: a no-op that repairs v1
    again = Artifact("ds", "dataset")
    write_tree(tmp_path / "again", {"a.txt": b"alpha", "b/c.txt": b"gamma"})
    again.add_dir(tmp_path / "again")
    assert again.save().version == "v1"
    assert check_store(satchel_env.open_store()).problems == ()


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


@pytest.mark.parametrize(("project", "looked_for"), [(None, {"a.txt"}), ("other", set(FILES))])
def test_only_a_new_draft_saved_into_its_base_collection_trusts_the_base(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, project: str | None, looked_for: set[str]
) -> None:
    # gc marks one collection at a time: only a base in the new version's own collection is
    # seen together with it, so only that base's objects are trusted without a look
    v0 = _commit(tmp_path)
    draft = v0.new_draft()
    (tmp_path / "new.txt").write_bytes(b"replaced")
    draft.add_file(tmp_path / "new.txt", name="a.txt", overwrite=True)
    asked: list[tuple[str, str]] = []
    real = Store.missing_objects

    def record(self: Store, objects: Any) -> set[tuple[str, str]]:
        wanted = list(objects)
        asked.extend(wanted)
        return real(self, wanted)

    monkeypatch.setattr(Store, "missing_objects", record)
    saved = draft.save(project)
    assert saved.project == (project or "default") and saved.version == (
        "v1" if project is None else "v0"
    )
    paths = {(e.alg, e.oid): e.path for e in saved.manifest}
    assert {paths[k] for k in asked} == looked_for
