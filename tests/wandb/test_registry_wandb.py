"""Importing a W&B ``wandb_manifest.json``: stored files from roots, references kept as
recorded, clear errors for files found nowhere or with other content."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from satchel import Api, Artifact, Manifest
from satchel.cli import main
from satchel.errors import DigestMismatchError, SourceFileNotFoundError
from satchel.wandb_import import build_from_wandb
from tests.conftest import SatchelEnv, write_tree

FILES = {"images/0.png": b"\x89PNG zero", "images/1.png": b"\x89PNG one", "labels.csv": "0,1\n"}


def b64md5(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(hashlib.md5(raw).digest()).decode()


def wandb_manifest(extra_contents: dict[str, Any] | None = None) -> dict[str, Any]:
    contents = {
        path: {"digest": b64md5(data), "size": len(data), "birthArtifactID": "QXJ0aWZhY3Q6MQ=="}
        for path, data in FILES.items()
    }
    contents.update(extra_contents or {})
    return {
        "version": 1,
        "storagePolicy": "wandb-storage-policy-v1",
        "storagePolicyConfig": {"storageLayout": "V2"},
        "contents": contents,
    }


@pytest.fixture
def api(satchel_env: SatchelEnv) -> Api:
    return satchel_env.api("p")


def test_stored_files_come_from_a_root_and_the_digest_matches_wandb(
    api: Api, tmp_path: Path
) -> None:
    root = write_tree(tmp_path / "download", FILES)
    art = build_from_wandb(
        api.services,
        wandb_manifest(),
        name="mnist",
        type="dataset",
        roots=[str(tmp_path / "elsewhere"), str(root)],
    )
    art.save("p")
    expected = Manifest.from_wandb(wandb_manifest())
    assert art.digest == expected.digest  # W&B's artifact digest, byte for byte
    got = api.artifact("mnist:v0")
    folder = Path(got.download(str(tmp_path / "out")))
    assert (folder / "labels.csv").read_text() == "0,1\n"
    assert all(e.birth_artifact_id is None for e in got.manifest)


def test_references_are_kept_as_recorded(api: Api, tmp_path: Path) -> None:
    ext = write_tree(tmp_path / "ext", {"weights.bin": b"w" * 100})
    source = Artifact("src", "model", services=api.services)
    source.add_reference((ext / "weights.bin").as_uri(), name="weights.bin")
    wb = source.manifest.to_wandb()
    path = tmp_path / "wandb_manifest.json"
    path.write_text(json.dumps(wb))
    art = build_from_wandb(api.services, str(path), name="imported", type="model")
    art.save("p")
    (entry,) = list(api.artifact("imported").manifest)
    assert entry.ref == (ext / "weights.bin").as_uri()
    assert entry.digest == source.manifest.get("weights.bin").digest  # type: ignore[union-attr]
    folder = Path(api.artifact("imported").download(str(tmp_path / "dl")))
    assert (folder / "weights.bin").read_bytes() == b"w" * 100


def test_a_uri_root_turns_stored_files_into_references(
    api: Api, http_site: Any, tmp_path: Path
) -> None:
    for path, data in FILES.items():
        http_site.put(path, data.encode() if isinstance(data, str) else data)
    art = build_from_wandb(
        api.services, wandb_manifest(), name="ds", type="dataset", roots=[http_site.base_url]
    )
    assert {e.path for e in art.manifest} == set(FILES)
    assert all(e.is_reference for e in art.manifest)
    art.save("p")
    folder = Path(api.artifact("ds").download(str(tmp_path / "dl")))
    assert (folder / "images" / "1.png").read_bytes() == FILES["images/1.png"]


def test_files_found_under_no_root_are_listed(api: Api, tmp_path: Path) -> None:
    root = write_tree(tmp_path / "partial", {"labels.csv": "0,1\n"})
    with pytest.raises(
        SourceFileNotFoundError,
        match=r"2 file\(s\) stored by W&B were found "
        r"under no root \(.*partial\): "
        r"images/0.png, images/1.png",
    ):
        build_from_wandb(
            api.services, wandb_manifest(), name="ds", type="dataset", roots=[str(root)]
        )
    with pytest.raises(SourceFileNotFoundError, match=r"\(no --root given\)"):
        build_from_wandb(api.services, wandb_manifest(), name="ds", type="dataset")


def test_a_root_file_with_other_content_is_refused(api: Api, tmp_path: Path) -> None:
    root = write_tree(tmp_path / "root", {**FILES, "labels.csv": "changed"})
    with pytest.raises(
        DigestMismatchError,
        match=r"does not hold the content W&B recorded for "
        r"'labels.csv'",
    ):
        build_from_wandb(
            api.services, wandb_manifest(), name="ds", type="dataset", roots=[str(root)]
        )


def test_cli_import_wandb(satchel_env: SatchelEnv, tmp_path: Path, capsys: Any) -> None:
    root = write_tree(tmp_path / "root", FILES)
    path = tmp_path / "wandb_manifest.json"
    path.write_text(json.dumps(wandb_manifest()))
    code = main(
        [
            "--project",
            "p",
            "import-wandb",
            str(path),
            "--name",
            "mnist",
            "--type",
            "dataset",
            "--root",
            str(root),
            "--alias",
            "from-wandb",
            "--json",
        ]
    )
    assert code == 0
    info = json.loads(capsys.readouterr().out)
    assert info["qualified_name"] == "p/mnist:v0" and "from-wandb" in info["aliases"]
    assert info["digest"] == Manifest.from_wandb(wandb_manifest()).digest
    code = main(["import-wandb", str(path), "--name", "x", "--type", "dataset"])
    assert code == 1
    assert "satchel: error: 3 file(s) stored by W&B were found under no root" in (
        capsys.readouterr().err
    )
