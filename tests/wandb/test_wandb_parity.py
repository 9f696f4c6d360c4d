"""satchel and the real ``wandb==0.31.0`` client build the same manifests, bit for bit.

Every scenario runs twice on the same files: once through ``wandb.Artifact`` (offline, every
W&B folder in ``tmp_path``; a W&B draft's manifest and digest need no server) and once through
``satchel.Artifact``. Entries (path, digest, size, extra), artifact digests and sizes must be
equal. Reference entries are compared by the file their ``ref`` names: W&B joins the URI it
was given with the raw relative path, satchel writes a percent-encoded ``file://`` URI (see
the README's W&B differences).
"""

from __future__ import annotations

import os
import unicodedata
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import satchel
from satchel import Manifest
from satchel.errors import ConfigError, InvalidPathError
from tests.conftest import SatchelEnv, read_tree, write_tree

NFC = unicodedata.normalize("NFC", "café")
NFD = unicodedata.normalize("NFD", "résumé")
BIG = 9 * 1024 * 1024 + 17  # above satchel's large-file paths (1 MiB, 8 MiB), odd size

ODD_TREE: dict[str, bytes | str] = {
    "plain.txt": "hello",
    "empty": b"",
    "sub/empty-too.bin": b"",
    f"unicode/{NFC}.txt": "nfc",
    f"unicode/{NFD}.txt": "nfd",
    "unicode/日本語/ファイル.txt": "cjk",
    "unicode/emoji 😀.txt": "emoji",
    "odd/with space.txt": "space",
    "odd/h#sh.txt": "hash",
    "odd/per%41cent.txt": "percent",
    "odd/q?mark.txt": "question",
    "odd/quote'and\"double.txt": "quotes",
    "odd/a=b+c,d@e!f&g.txt": "punctuation",
    "odd/.hidden": "dotfile",
    "odd/dots..name...": "dots",
    "deep/a/b/c/d/e/f/leaf.txt": "deep",
}


@pytest.fixture
def wandb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The real W&B 0.31 client, offline, with every folder of its own below ``tmp_path``."""
    w = tmp_path / "wandb-home"
    for var, sub in (
        ("WANDB_DIR", "dir"),
        ("WANDB_CACHE_DIR", "cache"),
        ("WANDB_DATA_DIR", "data"),
        ("WANDB_CONFIG_DIR", "config"),
        ("WANDB_ARTIFACT_DIR", "artifacts"),
    ):
        (w / sub).mkdir(parents=True)
        monkeypatch.setenv(var, str(w / sub))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    import wandb as real_wandb

    assert real_wandb.__version__ == "0.31.0"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield real_wandb


def _wandb_view(art: Any) -> tuple[dict[str, dict[str, Any]], str, int]:
    contents = art.manifest.to_manifest_json()["contents"]
    return contents, art.digest, art.manifest.size()


def _satchel_view(art: satchel.Artifact) -> tuple[dict[str, dict[str, Any]], str, int]:
    contents = art.manifest.to_wandb()["contents"]
    return contents, art.digest, art.size


def _decoded(ref: str) -> str:
    """The local path a file:// ref names, read the way W&B reads it."""
    return urllib.request.url2pathname(urllib.parse.urlparse(ref).path)


def _assert_same(wb: Any, sa: satchel.Artifact, *, refs: bool = False) -> None:
    w_contents, w_digest, w_size = _wandb_view(wb)
    s_contents, s_digest, s_size = _satchel_view(sa)
    assert sorted(s_contents) == sorted(w_contents)
    for path, w_entry in w_contents.items():
        s_entry = dict(s_contents[path])
        w_entry = dict(w_entry)
        w_ref, s_ref = w_entry.pop("ref", None), s_entry.pop("ref", None)
        assert s_entry == w_entry, path
        if refs:
            assert w_ref is not None and s_ref is not None
            # satchel's ref is a correct URI of the file; W&B's is the raw join
            assert urllib.parse.unquote(urllib.parse.urlsplit(s_ref).path) == w_ref.removeprefix(
                "file://"
            ), path
        else:
            assert w_ref is None and s_ref is None
    assert (s_digest, s_size) == (w_digest, w_size)


@pytest.fixture
def odd_tree(tmp_path: Path) -> Path:
    root = write_tree(tmp_path / "tree", ODD_TREE)
    (root / "big.bin").write_bytes(os.urandom(BIG))
    (root / "link-to-plain.txt").symlink_to("plain.txt")  # both follow links to files
    return root


@pytest.mark.parametrize("policy", ["mutable", "immutable"])
def test_add_dir_of_odd_names_empty_and_large_files_matches_wandb(
    wandb: ModuleType, odd_tree: Path, policy: str
) -> None:
    wb = wandb.Artifact("tree", type="dataset")
    wb.add_dir(str(odd_tree), policy=policy)
    sa = satchel.Artifact("tree", "dataset")
    sa.add_dir(odd_tree, policy=policy)
    _assert_same(wb, sa)
    assert len(sa.manifest) == len(ODD_TREE) + 2


@pytest.mark.parametrize("policy", ["mutable", "immutable"])
def test_add_dir_under_a_name_and_add_file_variants_match_wandb(
    wandb: ModuleType, odd_tree: Path, policy: str
) -> None:
    f = odd_tree / "odd" / "with space.txt"
    wb = wandb.Artifact("mix", type="dataset")
    sa = satchel.Artifact("mix", "dataset")
    for art in (wb, sa):
        art.add_dir(str(odd_tree / "unicode"), name="prefix/uni", policy=policy)
        art.add_file(str(f), policy=policy)
        art.add_file(str(f), name="renamed/é x.txt", policy=policy)
        art.add_file(str(odd_tree / "big.bin"), name="tmp/model.v1.bin", is_tmp=True, policy=policy)
    _assert_same(wb, sa)


def test_new_file_and_remove_match_wandb(wandb: ModuleType, odd_tree: Path) -> None:
    wb = wandb.Artifact("nf", type="dataset")
    sa = satchel.Artifact("nf", "dataset")
    for art in (wb, sa):
        with art.new_file("notes/readme.md") as f:
            f.write("# ünïcode\n")
        with art.new_file("blob.bin", mode="wb") as fb:
            fb.write(b"\x00\x01\xff")
        art.add_dir(str(odd_tree / "odd"), name="odd")
        art.remove("odd/h#sh.txt")
        art.remove("notes")
    _assert_same(wb, sa)


def test_empty_artifact_digest_matches_wandb(wandb: ModuleType) -> None:
    wb = wandb.Artifact("empty", type="dataset")
    sa = satchel.Artifact("empty", "dataset")
    _assert_same(wb, sa)
    assert sa.digest == "64e7c61456b10382e2f3b571ac24b659"


@pytest.mark.parametrize("spelling", ["xxh128", "XXH128"])
def test_xxh128_entries_and_artifact_digest_match_wandb(
    wandb: ModuleType, odd_tree: Path, spelling: str
) -> None:
    wb = wandb.Artifact("fast", type="dataset", digest_algorithm="XXH128")
    wb.add_dir(str(odd_tree))
    wb.add_reference(odd_tree.as_uri() + "/plain.txt", name="ref/plain.txt")
    sa = satchel.Artifact("fast", "dataset", digest_algorithm=spelling)
    sa.add_dir(odd_tree)
    sa.add_reference(odd_tree.as_uri() + "/plain.txt", name="ref/plain.txt")
    w_contents, w_digest, w_size = _wandb_view(wb)
    s_contents, s_digest, s_size = _satchel_view(sa)
    assert (s_digest, s_size) == (w_digest, w_size)
    assert {p: (e["digest"], e["size"], e.get("extra")) for p, e in s_contents.items()} == {
        p: (e["digest"], e["size"], e.get("extra")) for p, e in w_contents.items()
    }
    assert sa.digest_algorithm == "xxh128"


def test_xxh128_digest_survives_commit_and_reload(
    wandb: ModuleType, odd_tree: Path, satchel_env: SatchelEnv
) -> None:
    wb = wandb.Artifact("fast", type="dataset", digest_algorithm="XXH128")
    wb.add_dir(str(odd_tree / "odd"))
    sa = satchel.Artifact("fast", "dataset", digest_algorithm="xxh128")
    sa.add_dir(odd_tree / "odd")
    sa.save()
    fetched = satchel_env.api().artifact("fast:v0")
    assert fetched.digest == wb.digest == fetched.manifest.digest
    assert fetched.manifest.digest_algorithm == "xxh128"
    again = fetched.new_draft()
    again.save()
    assert again.version == "v0"  # same content, same digest: W&B's no-op rule holds


def test_wandb_manifests_import_with_wandb_digest(wandb: ModuleType, odd_tree: Path) -> None:
    for alg in ("MD5", "XXH128"):
        wb = wandb.Artifact("imp", type="dataset", digest_algorithm=alg)
        wb.add_dir(str(odd_tree / "unicode"))
        manifest = Manifest.from_wandb(wb.manifest.to_manifest_json())
        assert manifest.digest == wb.digest
        assert manifest.digest_algorithm == alg.lower()
        assert "digestAlgorithm" not in manifest.to_wandb()


def test_unknown_digest_algorithm_is_refused() -> None:
    with pytest.raises(
        ConfigError, match="unknown digest algorithm 'sha1'; use one of md5, xxh128"
    ):
        satchel.Artifact("x", "dataset", digest_algorithm="SHA1")


@pytest.mark.parametrize("name", [None, "refs"])
def test_file_reference_with_checksum_matches_wandb(
    wandb: ModuleType, odd_tree: Path, name: str | None
) -> None:
    wb = wandb.Artifact("refs", type="dataset")
    sa = satchel.Artifact("refs", "dataset")
    for art in (wb, sa):
        art.add_reference(odd_tree.as_uri(), name=name, checksum=True)
        art.add_reference((odd_tree / "plain.txt").as_uri(), name="single/plain.txt")
    _assert_same(wb, sa, refs=True)


@pytest.mark.parametrize("name", [None, "loose"])
def test_file_reference_without_checksum_matches_wandb_bit_for_bit(
    wandb: ModuleType, odd_tree: Path, name: str | None
) -> None:
    wb = wandb.Artifact("loose", type="dataset")
    sa = satchel.Artifact("loose", "dataset")
    for art in (wb, sa):
        art.add_reference(odd_tree.as_uri(), name=name, checksum=False)
        art.add_reference((odd_tree / "empty").as_uri(), name="one/empty", checksum=False)
        art.add_reference(
            (odd_tree / "link-to-plain.txt").as_uri(), name="one/link", checksum=False
        )
    _assert_same(wb, sa, refs=True)
    entries = sa.manifest.entries
    prefix = f"{name}/" if name else ""
    # one entry per file, the size, and the digest of the file's resolved URI (links followed)
    assert entries[f"{prefix}big.bin"].size == BIG
    assert entries["one/link"].digest == entries[f"{prefix}plain.txt"].digest


def test_satchel_downloads_references_recorded_without_checksum(
    wandb: ModuleType, odd_tree: Path, tmp_path: Path
) -> None:
    sa = satchel.Artifact("loose", "dataset")
    sa.add_reference((odd_tree / "odd").as_uri(), name="odd", checksum=False)
    sa.save()
    (odd_tree / "odd" / "with space.txt").write_text("changed since")  # not verified: taken
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="has no recorded checksum; not verified"):
        sa.download(out)
    expected = {
        f"odd/{k[4:]}": (v.encode() if isinstance(v, str) else v)
        for k, v in ODD_TREE.items()
        if k.startswith("odd/")
    }
    expected["odd/with space.txt"] = b"changed since"
    assert read_tree(out) == expected
    assert sorted(sa.verify(out).unverifiable) == sorted(expected)


def test_checksum_false_reference_to_nothing_is_refused(tmp_path: Path) -> None:
    missing = (tmp_path / "nothing-here").as_uri()
    with pytest.raises(
        satchel.ReferenceNotFoundError,
        match=f"reference {missing} does not exist \\(no file or folder\\)",
    ):
        satchel.Artifact("x", "dataset").add_reference(missing, checksum=False)


@pytest.mark.parametrize("bad", ["back\\slash", "new\nline"])
def test_names_wandb_accepts_and_satchel_refuses(
    wandb: ModuleType, tmp_path: Path, bad: str
) -> None:
    root = write_tree(tmp_path / "bad", {"ok.txt": "ok"})
    (root / bad).write_text("x")
    wb = wandb.Artifact("bad", type="dataset")
    wb.add_dir(str(root))  # W&B keeps such names ...
    assert bad in wb.manifest.to_manifest_json()["contents"]
    with pytest.raises(InvalidPathError, match="logical path"):  # ... satchel refuses them
        satchel.Artifact("bad", "dataset").add_dir(root)


def test_committed_version_digest_and_size_equal_wandb_draft(
    wandb: ModuleType, odd_tree: Path, satchel_env: SatchelEnv
) -> None:
    wb = wandb.Artifact("tree", type="dataset")
    wb.add_dir(str(odd_tree))
    sa = satchel.Artifact("tree", "dataset")
    sa.add_dir(odd_tree)
    sa.save()
    fetched = satchel_env.api().artifact("tree:latest")
    assert (fetched.digest, fetched.size) == (wb.digest, wb.manifest.size())
    assert Manifest.from_wandb(wb.manifest.to_manifest_json()).digest == fetched.digest
