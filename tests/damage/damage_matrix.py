"""The store-damage matrix: one damage per pristine local store, every command on it.

Each damage of :data:`DAMAGES` gets its own store (``conf/ds`` v0 and v1, alias ``prod`` on v0,
and an unaffected ``conf/other`` v0), is applied behind satchel's back with
:mod:`tests.damage.conftest`, and then every command of :data:`COMMANDS` runs on it in order
(the ones that change the store last). Each cell's outcome is reduced to facts that do not vary
from run to run (exit status, whether an error or warning line names the damaged item; no
paths, times or hashes), so the rendered report is stable and a test can compare it with the
committed ``docs/damage-matrix.md``. After the commands, three checks run per damage: the
unaffected artifact still lists, downloads and verifies; every version the damage did not hit
downloads byte-identical from an empty cache; and ``satchel fsck --repair`` (with ``--from`` a
folder holding the files) leaves the store clean, or lists what it leaves for a person.

Commands run in-process (:func:`satchel.cli.main`; an exception escaping it counts as a
traceback) or as real ``python -m satchel`` subprocesses (``subprocess=True``); both give the
same outcomes. Regenerate the report with::

    PYTHONPATH=src python -m tests.damage.damage_matrix            # in-process, writes the report
    PYTHONPATH=src python -m tests.damage.damage_matrix --subprocess --check   # commands as processes
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from satchel.api import Api
from satchel.services import local_services
from satchel.store import Store, layout, open_store
from tests.conftest import read_tree, write_tree
from tests.damage import conftest as dmg
from tests.store.conftest import PROJECT, commit_files, overwrite

__all__ = [
    "COMMANDS",
    "DAMAGES",
    "REPORT",
    "Cell",
    "Damage",
    "Row",
    "build",
    "render",
    "run_matrix",
]

REPORT = Path(__file__).resolve().parents[2] / "docs" / "damage-matrix.md"

V0 = {"a.txt": b"alpha", "big.bin": b"B" * 2000}
V1 = {"a.txt": b"alpha", "big.bin": b"C" * 2000, "new.txt": b"new"}
OTHER = {"o.txt": b"other artifact"}
SRC = {**V1, "more.txt": b"more"}  # what `put` commits: v2 of ds

#: every command, in an order where the ones that change the store come last; ``T`` is the
#: damaged artifact's name
COMMANDS: dict[str, list[str]] = {
    "ls": ["ls"],
    "ls NAME": ["ls", "T"],
    "show": ["show", "T"],
    "get": ["get", "T", "--root", "got"],
    "verify": ["verify", "T:v1", "v1-copy"],
    "checkout": ["checkout", "T", "co"],
    "gc --dry-run": ["gc", "--dry-run", "--grace", "0s"],
    "fsck": ["fsck"],
    "put": ["put", "src", "--name", "ds", "--type", "dataset"],
    "gc": ["gc", "--grace", "0s", "--force"],
}


@dataclass(frozen=True)
class Place:
    """The folders of one damage's store."""

    root: Path

    @property
    def store(self) -> Path:
        """The local store."""
        return self.root / "store"

    @property
    def cache(self) -> Path:
        """The cache."""
        return self.root / "cache"

    @property
    def work(self) -> Path:
        """The working directory of the commands."""
        return self.root / "work"


@dataclass(frozen=True)
class Damage:
    """One damage.

    Attributes:
        name: its row label.
        what: what it does, for the report.
        apply: damages a pristine store; returns the strings that name the damaged item
            (its key, a version ref); an error or warning naming any of them names it.
        hit: versions the damage makes unreadable for good (``satchel fsck --repair`` cannot
            bring them back); every other version must survive every command and the repair.
        target: the damaged artifact's name, the ``T`` of :data:`COMMANDS`.
        repair: extra ``fsck --repair`` options (``--deep``).
        touched: versions the damage breaks until ``satchel fsck --repair`` mends them (lost
            or corrupt content); they need not download before the repair.
    """

    name: str
    what: str
    apply: Callable[[Store, Place], tuple[str, ...]]
    hit: tuple[str, ...] = ()
    target: str = "ds"
    repair: tuple[str, ...] = ()
    touched: tuple[str, ...] = ()


#: the damages whose commands the suite also runs as real subprocesses
SUBPROCESS_DAMAGES = ("stray record", "truncated record", "unsafe manifest")


def _ref(version: int, name: str = "ds") -> str:
    return f"{PROJECT}/{name}:v{version}"


def _record_edit(store: Store, version: int, **fields: object) -> str:
    key = layout.version_key(PROJECT, "ds", version)
    data = json.loads(store.backend.read(key))
    data.update(fields)
    overwrite(store, key, json.dumps(data).encode())
    return key


def _swap_manifest(store: Store, _p: Place) -> tuple[str, ...]:
    v0 = dmg.record(store, PROJECT, "ds", 0)
    return (_record_edit(store, 1, manifest=v0.manifest), _ref(1))


def _edit_digest(store: Store, _p: Place) -> tuple[str, ...]:
    return (_record_edit(store, 1, digest="0" * 32), _ref(1))


def _tamper_manifest(store: Store, _p: Place) -> tuple[str, ...]:
    # the same name, other contents: big.bin's entry points at v0's bytes
    rec = dmg.record(store, PROJECT, "ds", 1)
    key = layout.manifest_key(rec.manifest)
    data = json.loads(gzip.decompress(store.backend.read(key)))
    old = store.get_manifest(dmg.record(store, PROJECT, "ds", 0).manifest).get("big.bin")
    assert old is not None
    data["contents"]["big.bin"]["digest"] = old.digest
    overwrite(store, key, gzip.compress(json.dumps(data, sort_keys=True).encode()))
    return (key, _ref(1))


def _corrupt_cache(store: Store, p: Place) -> tuple[str, ...]:
    # a local store's commit keeps no cache copy: put one there, as a download from a bucket
    # would, then rot it (same size, other bytes)
    services = local_services(cache_dir=str(p.cache), store=str(p.store))
    services.cache.add_bytes(V1["big.bin"], alg="md5")
    oid = hashlib.md5(V1["big.bin"]).hexdigest()
    path = Path(services.cache.object_path("md5", oid))
    path.chmod(0o644)
    path.write_bytes(b"X" * len(V1["big.bin"]))
    return (str(path), oid)


def _stray_in(folder: str) -> Callable[[Store, Place], tuple[str, ...]]:
    def apply(store: Store, _p: Place) -> tuple[str, ...]:
        key = f"{folder}/zz/notes.txt"
        overwrite(store, key, b"a note someone left\n")
        return (key,)

    return apply


def _legacy_dot_name(store: Store, _p: Place) -> tuple[str, ...]:
    _project, name = dmg.legacy_hidden(store, PROJECT, "ds")
    return (layout.collection_folder(PROJECT, name), f"{PROJECT}/{name}")


DAMAGES: tuple[Damage, ...] = (
    Damage(
        "stray record",
        "`versions/01.json`, a copy of v0's record",
        lambda s, _p: (dmg.copy_record_to_stray(s, PROJECT, "ds", 0, "01.json"),),
    ),
    Damage(
        "stray file in versions/",
        "`versions/notes.txt`",
        lambda s, _p: (dmg.stray_file(s, PROJECT, "ds"),),
    ),
    Damage(
        "truncated record",
        "v1's record cut after 30 bytes",
        lambda s, _p: (dmg.truncate_record(s, PROJECT, "ds", 1), _ref(1)),
        hit=(_ref(1),),
    ),
    Damage(
        "record claims another number",
        'v1\'s record says `"version": 0`',
        lambda s, _p: (dmg.edit_version_field(s, PROJECT, "ds", 1, claims=0), _ref(1)),
        hit=(_ref(1),),
    ),
    Damage(
        "duplicated record",
        "v0's record copied to `versions/2.json`",
        lambda s, _p: (dmg.duplicate_record(s, PROJECT, "ds", 0, to=2), _ref(2)),
    ),
    Damage(
        "duplicated record, consistent",
        "v0's record copied to `2.json`, saying v2",
        lambda s, _p: (dmg.duplicate_record(s, PROJECT, "ds", 0, to=2, consistent=True), _ref(2)),
    ),
    Damage(
        "record of another collection",
        "v1's record says it belongs to `elsewhere`",
        lambda s, _p: (dmg.foreign_record(s, PROJECT, "ds", 1), _ref(1)),
        hit=(_ref(1),),
    ),
    Damage(
        "record names v0's manifest",
        "v1's record points at v0's manifest",
        _swap_manifest,
        hit=(_ref(1),),
    ),
    Damage("record digest edited", "v1's record has another digest", _edit_digest, hit=(_ref(1),)),
    Damage(
        "missing object",
        "v1's `new.txt` object deleted",
        lambda s, _p: (dmg.delete_object(s, PROJECT, "ds", 1, "new.txt"), _ref(1)),
        touched=(_ref(1),),
    ),
    Damage(
        "corrupt object, other size",
        "v1's `big.bin` object replaced by 3 bytes",
        lambda s, _p: (dmg.corrupt_object(s, PROJECT, "ds", 1, "big.bin"), _ref(1)),
        touched=(_ref(1),),
    ),
    Damage(
        "corrupt object, same size",
        "v1's `big.bin` object: same size, other bytes",
        lambda s, _p: (dmg.corrupt_object(s, PROJECT, "ds", 1, "big.bin", b"D" * 2000), _ref(1)),
        repair=("--deep",),
        touched=(_ref(1),),
    ),
    Damage(
        "tampered manifest",
        "v1's manifest edited in place (big.bin names v0's bytes)",
        _tamper_manifest,
        hit=(_ref(1),),
    ),
    Damage(
        "unsafe manifest",
        "v1 re-pointed at a forged manifest listing `../escape.txt`",
        lambda s, _p: (dmg.unsafe_manifest(s, PROJECT, "ds", 1), _ref(1)),
        hit=(_ref(1),),
    ),
    Damage(
        "missing manifest",
        "v1's manifest deleted",
        lambda s, _p: (dmg.delete_manifest(s, PROJECT, "ds", 1), _ref(1)),
        hit=(_ref(1),),
    ),
    Damage(
        "truncated collection.json",
        "`collection.json` replaced by `{nope`",
        lambda s, _p: (dmg.bad_collection(s, PROJECT, "ds"),),
    ),
    Damage(
        "missing collection.json",
        "`collection.json` deleted",
        lambda s, _p: (dmg.delete_collection(s, PROJECT, "ds"),),
    ),
    Damage(
        "truncated attributes",
        '`versions/0.attrs.json` replaced by `{"tags": [`',
        lambda s, _p: (dmg.bad_attrs(s, PROJECT, "ds", 0), _ref(0)),
    ),
    Damage(
        "truncated alias",
        "`aliases/prod.json` replaced by a malformed record",
        lambda s, _p: (dmg.bad_alias(s, PROJECT, "ds", "prod"), f"{PROJECT}/ds:prod"),
    ),
    Damage(
        "truncated pending part",
        "a collaborative part under `pending/g/` cut short",
        lambda s, _p: (dmg.bad_pending_part(s, PROJECT, "ds"),),
    ),
    Damage(
        "legacy dot-alias",
        "alias `.old` on v0, as an older satchel wrote it",
        lambda s, _p: (dmg.legacy_hidden_alias(s, PROJECT, "ds", ".old", 0), f"{PROJECT}/ds:.old"),
    ),
    Damage(
        "legacy dot-name",
        "`ds` renamed to `.ds` in the store, as an older satchel wrote it",
        _legacy_dot_name,
        target=".ds",
    ),
    Damage(
        "corrupt cache object",
        "the cache's copy of v1's `big.bin`: same size, other bytes",
        _corrupt_cache,
    ),
    Damage("stray file in objects/", "`objects/zz/notes.txt`", _stray_in("objects")),
    Damage("stray file in manifests/", "`manifests/zz/notes.txt`", _stray_in("manifests")),
)


@dataclass(frozen=True)
class Cell:
    """One command's outcome on one damaged store.

    Attributes:
        code: the exit status (``None``: an exception escaped, a traceback).
        errors: the ``satchel: error:`` lines.
        warnings: the ``satchel: warning:`` lines.
        names_it: an error or warning line, or (``fsck``/``gc``) the output, names the damage.
        stray_lines: stderr lines that are neither errors, warnings nor their indented details.
        traceback: a traceback or a raw ``Errno`` was printed (or an exception escaped).
    """

    code: int | None
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    names_it: bool
    stray_lines: tuple[str, ...]
    traceback: bool

    def label(self) -> str:
        """The deterministic text of the report's cell."""
        if self.traceback or self.code is None:
            return "**TRACEBACK**"
        parts = ["ok" if self.code == 0 else f"exit {self.code}"]
        said = "error" if self.errors else "warning" if self.warnings else ""
        if said:
            parts.append(f"{said} names it" if self.names_it else said)
        elif self.names_it:
            parts.append("reports it")
        return ", ".join(parts)


@dataclass(frozen=True)
class Row:
    """Every outcome for one damage.

    Attributes:
        damage: the damage.
        cells: command -> outcome, in :data:`COMMANDS` order.
        other_ok: ``other`` still lists, downloads and verifies after every command.
        after: the versions that downloaded byte-identical from an empty cache after the
            commands, and those that should have (sound before, not touched by the damage).
        repaired: the same after ``satchel fsck --repair``: every version not destroyed,
            with the one ``put`` made.
        repair: what ``satchel fsck --repair`` left (``clean`` or the problem kinds).
    """

    damage: Damage
    cells: dict[str, Cell]
    other_ok: bool
    after: tuple[tuple[str, ...], tuple[str, ...]]
    repaired: tuple[tuple[str, ...], tuple[str, ...]]
    repair: str


# -- running commands --------------------------------------------------------------------------
def _env(p: Place) -> dict[str, str]:
    return {
        "SATCHEL_STORE": str(p.store),
        "SATCHEL_CACHE_DIR": str(p.cache),
        "SATCHEL_PROJECT": PROJECT,
        "SATCHEL_NO_PROGRESS": "1",
    }


@contextlib.contextmanager
def _inside(p: Place) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in _env(p)}
    cwd = os.getcwd()
    os.environ.update(_env(p))
    os.chdir(p.work)
    try:
        yield
    finally:
        os.chdir(cwd)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_cli(p: Place, args: Sequence[str], *, subprocess_: bool) -> tuple[int | None, str, str]:
    """Run one command on a damage's store; returns (exit status or None, stdout, stderr)."""
    if subprocess_:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SATCHEL_")}
        done = subprocess.run(
            [sys.executable, "-m", "satchel", *args],
            cwd=p.work,
            text=True,
            capture_output=True,
            check=False,
            env={**env, **_env(p)},
        )
        return done.returncode, done.stdout, done.stderr
    from satchel.cli import main

    out, err = io.StringIO(), io.StringIO()
    with _inside(p), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code: int | None = main(list(args))
        except BaseException as exc:  # noqa: BLE001 - an escaping exception is the finding
            print(f"Traceback (escaped main): {type(exc).__name__}: {exc}", file=sys.stderr)
            code = None
    return code, out.getvalue(), err.getvalue()


def _cell(command: str, result: tuple[int | None, str, str], names: tuple[str, ...]) -> Cell:
    code, out, err = result
    lines = err.splitlines()
    errors = tuple(ln for ln in lines if ln.startswith("satchel: error: "))
    warns = tuple(ln for ln in lines if ln.startswith("satchel: warning: "))
    stray = tuple(
        ln for ln in lines if not ln.startswith(("satchel: error: ", "satchel: warning: ", "  "))
    )
    said = errors + warns
    if command in ("fsck", "gc", "gc --dry-run"):
        said += (out,)
    return Cell(
        code=code,
        errors=errors,
        warnings=warns,
        names_it=any(n in text for n in names for text in said),
        stray_lines=stray,
        traceback="Traceback" in err or "Errno" in err or code is None,
    )


# -- building and checking stores -------------------------------------------------------------
def _expected(damage: Damage, put_out: str) -> tuple[dict[str, dict[str, bytes]], set[str]]:
    """Every version the damage did not destroy with its files, and those that must download
    before the repair too (sound before the damage, not touched by it)."""
    name = damage.target
    want = {_ref(0, name): V0, _ref(1, name): V1, _ref(0, "other"): OTHER}

    def renamed(refs: tuple[str, ...]) -> set[str]:
        return {h.replace(f"{PROJECT}/ds:", f"{PROJECT}/{name}:") for h in refs}

    want = {ref: files for ref, files in want.items() if ref not in renamed(damage.hit)}
    before = set(want) - renamed(damage.touched)
    committed = re.match(r"committed (\S+:v\d+)", put_out)
    if committed:  # the version the put made
        want[committed.group(1)] = SRC
    return want, before


def _survivors(p: Place, want: dict[str, dict[str, bytes]], tag: str) -> tuple[str, ...]:
    import warnings

    good = []
    for n, (ref, files) in enumerate(sorted(want.items())):
        api = Api(str(p.store), PROJECT, cache_dir=str(p.root / f"empty-{tag}-{n}"))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                folder = api.artifact(ref).download(str(p.root / f"check-{tag}-{n}"))
        except Exception:  # noqa: BLE001 - a version that cannot be read did not survive
            folder = None
        if folder is not None and read_tree(folder) == files:
            good.append(ref)
    return tuple(good)


def build(
    root: Path, only: Sequence[str] | None = None
) -> list[tuple[Damage, Place, tuple[str, ...]]]:
    """A pristine store per damage under ``root`` (``only``: these damages), each damaged;
    returns what names each."""
    built = []
    for n, damage in enumerate(DAMAGES):
        if only is not None and damage.name not in only:
            continue
        p = Place(root / f"d{n:02d}")
        write_tree(p.work / "src", SRC)
        write_tree(p.work / "v1-copy", V1)
        write_tree(
            p.root / "backup",
            {"v0/big.bin": V0["big.bin"], **{f"v1/{k}": v for k, v in V1.items()}},
        )
        services = local_services(cache_dir=str(p.cache), store=str(p.store))
        commit_files(services, "ds", V0, {}, aliases=("prod",))
        commit_files(services, "ds", V1, {})
        commit_files(services, "other", OTHER, {})
        names = damage.apply(open_store(str(p.store)), p)
        # a manifest is named by its id in messages (manifests/ab/cd….json.gz is id abcd…)
        names += tuple(
            k.split("/")[1] + k.split("/")[2].removesuffix(".json.gz")
            for k in names
            if k.startswith("manifests/") and k.endswith(".json.gz")
        )
        built.append((damage, p, names))
    return built


def _target(args: list[str], damage: Damage) -> list[str]:
    return [a.replace("T", damage.target, 1) if a in ("T", "T:v1") else a for a in args]


def run_matrix(
    root: Path, *, subprocess_: bool = False, only: Sequence[str] | None = None
) -> list[Row]:
    """Build, damage and run every command on every store (``only``: these damages).

    With ``subprocess_`` the commands of :data:`COMMANDS` run as ``python -m satchel``
    subprocesses; the checks after them (``other``, the repair) run in-process either way.
    """
    built = build(root, only)
    # gc keeps what changed in its own starting second as young (stores date to the second):
    # let the second of the damage pass once for all stores
    time.sleep(1.1)
    rows = []
    for damage, p, names in built:
        cells, outs = {}, {}
        for command, args in COMMANDS.items():
            result = run_cli(p, _target(args, damage), subprocess_=subprocess_)
            cells[command], outs[command] = _cell(command, result, names), result[1]
        other_ok = all(
            run_cli(p, args, subprocess_=False)[0] == 0
            for args in (
                ["ls", "other"],
                ["get", "other", "--root", "other-out"],
                ["verify", "other", "other-out"],
            )
        )
        want, before = _expected(damage, outs["put"])
        after = _survivors(p, {r: want[r] for r in before}, "after")
        run_cli(
            p,
            ["fsck", "--repair", *damage.repair, "--from", str(p.root / "backup")],
            subprocess_=False,
        )
        code, out, _err = run_cli(p, ["fsck", *damage.repair, "--json"], subprocess_=False)
        report = json.loads(out)
        kinds = sorted({prob["kind"] for prob in report["problems"]})
        repaired = _survivors(p, want, "repaired")
        rows.append(
            Row(
                damage,
                cells,
                other_ok,
                (after, tuple(sorted(before))),
                (repaired, tuple(sorted(want))),
                "clean" if code == 0 and not kinds else "left: " + ", ".join(kinds),
            )
        )
    return rows


# -- the report --------------------------------------------------------------------------------
def render(rows: Sequence[Row]) -> str:
    """The report's Markdown: damage x command -> outcome, and the checks after."""
    cases = sum(len(r.cells) for r in rows)
    lost = sum(
        len(r.after[1]) - len(r.after[0]) + len(r.repaired[1]) - len(r.repaired[0]) for r in rows
    )
    cells = [c for r in rows for c in r.cells.values()]
    tracebacks = sum(c.traceback for c in cells)
    multi = sum(len(c.errors) > 1 for c in cells)
    unnamed = sum(bool(c.errors or c.warnings) and not c.names_it for c in cells)
    head = "| damage | " + " | ".join(f"`{c}`" for c in COMMANDS) + " |"
    out = [
        "# The store-damage matrix",
        "",
        "Generated by `tests/damage/damage_matrix.py` (`PYTHONPATH=src python -m tests.damage.damage_matrix`);",
        "`tests/damage/test_damage_matrix.py` runs it and fails when this file differs. Do not edit.",
        "",
        (
            f"Each of the {len(rows)} damages below is applied, alone, to a pristine local store "
            f"(`{PROJECT}/ds` v0 and v1 with alias `prod` on v0, and `{PROJECT}/other` v0); then "
            f"every one of the {len(COMMANDS)} commands runs on it in the order of the columns "
            "(`T` = the damaged artifact): "
            + ", ".join(f"`satchel {' '.join(a)}`" for a in COMMANDS.values())
            + "."
        ),
        "",
        (
            "The suite (`tests/damage/test_damage_matrix.py`) runs every cell in-process "
            "(`satchel.cli.main`; an exception escaping it would count as a traceback) and the rows "
            "of " + ", ".join(SUBPROCESS_DAMAGES) + " again as real `python -m satchel` "
            "subprocesses, which must give the same rows; `python -m tests.damage.damage_matrix "
            "--subprocess --check` runs every row's commands as subprocesses."
        ),
        "",
        f"**{cases} cases tried: {tracebacks} tracebacks, {lost} sound versions lost.**",
        "",
        (
            "A cell is the exit status (`ok` = 0) and what the command said: `error names it` (its "
            "one `satchel: error:` line names the damaged file or version), `warning names it` "
            "(a `satchel: warning: skipped KEY …` line, the command went on), `reports it` (fsck's "
            f"or gc's report lists it). Cells with a traceback or a raw `Errno`: {tracebacks}; with "
            f"more than one error line: {multi}; with an error or warning not naming the damage: "
            f"{unnamed}."
        ),
        "",
        head,
        "| --- | " + " | ".join("---" for _ in COMMANDS) + " |",
    ]
    for r in rows:
        out.append(
            f"| {r.damage.name} | " + " | ".join(r.cells[c].label() for c in COMMANDS) + " |"
        )
    out += [
        "",
        (
            "After the commands: *`other`* = `satchel ls other`, `get other` and `verify other` "
            "all exit 0; *sound after the commands* = the versions sound before the damage and not "
            "touched by it that download byte-identical from an empty cache after all ten "
            "commands; *after the repair* = every version the damage did not destroy (with the "
            "`put`'s) downloads byte-identical from an empty cache after `satchel fsck --repair "
            "--from DIR` (DIR holds the files; `--deep` for the same-size corruption); *repair* = "
            "what `satchel fsck` finds after it (`clean`, or what needs a person)."
        ),
        "",
        (
            "| damage | what | `other` | sound after the commands | after the repair | "
            "destroyed | repair |"
        ),
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        destroyed = ", ".join(h.split("/", 1)[1] for h in r.damage.hit) or "-"
        out.append(
            f"| {r.damage.name} | {r.damage.what} | {'ok' if r.other_ok else 'FAILED'} "
            f"| {len(r.after[0])} of {len(r.after[1])} "
            f"| {len(r.repaired[0])} of {len(r.repaired[1])} | {destroyed} | {r.repair} |"
        )
    out.append("")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the matrix and write (or, with ``--check``, compare) the report."""
    parser = argparse.ArgumentParser(prog="python -m tests.damage.damage_matrix")
    parser.add_argument(
        "--subprocess",
        action="store_true",
        help="run every command as a python -m satchel subprocess",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="compare with the committed report instead of writing it",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="damage-matrix-") as tmp:
        text = render(run_matrix(Path(tmp), subprocess_=args.subprocess))
    if args.check:
        same = REPORT.read_text() == text
        print("the report is up to date" if same else "the report differs")
        return 0 if same else 1
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(text)
    print(f"wrote {REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
