"""End-to-end tour of satchel on the default local store.

Builds a small generated dataset, commits it as a version, edits it with ``new_draft()``
(add, replace, remove), commits again, downloads the new version to a fresh folder, verifies it
and prints what happened at each step. It also shows the no-op rule: committing content identical
to the latest version creates no new version. Each run adds versions on top of earlier runs.

    python examples/quickstart.py [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile

import satchel


def make_dataset(root: str, files: int = 200) -> None:
    """Write ``files`` small deterministic CSV files in 4 folders."""
    rng = random.Random(42)
    for i in range(files):
        folder = os.path.join(root, f"split{i % 4}")
        os.makedirs(folder, exist_ok=True)
        rows = "\n".join(f"{j},{rng.random():.6f}" for j in range(50))
        with open(os.path.join(folder, f"part{i:04d}.csv"), "w") as f:
            f.write("id,value\n" + rows + "\n")


def main() -> None:
    """Run the tour."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", help="scratch folder (default: a new temporary folder)")
    args = parser.parse_args()
    work = args.workdir or tempfile.mkdtemp(prefix="satchel-quickstart-")
    data = os.path.join(work, "data")
    make_dataset(data)
    api = satchel.Api()
    print(f"store:   {api.store.url}")
    print(f"project: {api.project}")

    ds = satchel.Artifact("quickstart-data", type="dataset", metadata={"rows_per_file": 50})
    ds.add_dir(data)
    ds.add({"source": "generated", "seed": 42}, "info.json")
    ds.save(aliases=["baseline"])
    print(f"1. committed {ds.qualified_name}: {ds.file_count} files, {ds.size} bytes, "
          f"digest {ds.digest}, aliases {ds.aliases}")

    draft = ds.new_draft()
    extra = os.path.join(work, "README.txt")
    with open(extra, "w") as f:
        f.write("A generated dataset for the satchel quickstart.\n")
    draft.add_file(extra)                                   # add
    draft.add({"source": "generated", "seed": 42, "v": 2}, "info.json", overwrite=True)  # replace
    draft.remove("split3")                                  # remove a folder
    draft.save()
    print(f"2. committed {draft.qualified_name} from {draft.based_on}: "
          f"{draft.file_count} files, digest {draft.digest}")

    same = satchel.Artifact("quickstart-data", type="dataset")
    same.add_dir(data)
    same.add({"source": "generated", "seed": 42}, "info.json")
    same.add_file(extra)
    same.add({"source": "generated", "seed": 42, "v": 2}, "info.json", overwrite=True)
    same.remove("split3")
    same.save()
    print(f"   saving identical content again returns {same.qualified_name} (no new version)")

    v0, v1 = api.artifact("quickstart-data:baseline"), api.artifact("quickstart-data:latest")
    diff = api.diff(f"quickstart-data:{v0.version}", f"quickstart-data:{v1.version}")
    print(f"3. diff {v0.version} -> {v1.version}: {len(diff.added)} added, "
          f"{len(diff.removed)} removed, {len(diff.modified)} modified")

    target = os.path.join(work, "download")
    root = v1.download(target)
    report = v1.verify(root)
    print(f"4. downloaded {v1.qualified_name} to {root} and verified {report.verified} files")
    print(f"5. info.json in {v1.version}: {json.dumps(v1['info.json'], sort_keys=True)}")

    with open(os.path.join(root, "split0", "part0000.csv"), "a") as f:
        f.write("tampered\n")
    try:
        v1.verify(root)
    except satchel.ArtifactVerificationError as exc:
        print(f"6. after editing a file, verify reports changed={exc.changed}")
    v1.checkout(root)
    print(f"7. checkout restored it: {v1.verify(root).verified} files verified")


if __name__ == "__main__":
    main()
