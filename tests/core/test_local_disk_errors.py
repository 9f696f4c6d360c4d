"""Local disks that refuse writes: adding, saving and downloading onto a disk without space
raise a typed ``DiskFullError`` that names the disk, keep nothing half-written, and work once
there is room; onto a read-only filesystem (or a path the user may not write) they raise
``LocalAccessError`` naming the path. The command line prints one line for these and for any
other OS error.

The disks are real: each scenario runs in a child process inside its own user and mount
namespace (``unshare``), where a tmpfs of a few hundred KiB (or a read-only one) is mounted;
the kernel answers ``ENOSPC`` when it is full and ``EROFS`` when it is read-only. Nothing else
on the machine sees that mount.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from satchel.errors import DiskFullError, LocalAccessError, SatchelError
from satchel.services import local_services
from satchel.store import open_store
from tests.store.conftest import PROJECT, commit_files

REPO = Path(__file__).resolve().parents[2]

PRELUDE = """
import json, os, sys
import satchel
from satchel.errors import DiskFullError, LocalAccessError

small, outside = sys.argv[1], sys.argv[2]
os.environ["SATCHEL_CACHE_DIR"] = os.path.join(outside, "cache")  # scripts may move it
result = {}

def listing(top):
    return sorted(os.path.relpath(os.path.join(d, f), top)
                  for d, _dirs, files in os.walk(top) for f in files)

def fail(key, fn):
    try:
        fn()
    except (DiskFullError, LocalAccessError) as exc:
        result[key] = {"type": type(exc).__name__, "message": str(exc), "errno": exc.errno,
                       "folder": getattr(exc, "folder", None), "path": getattr(exc, "path", None),
                       "role": getattr(exc, "role", None),
                       "is_oserror": isinstance(exc, OSError)}
    else:
        result[key] = None

def fill(size):  # take size bytes of the small disk (None: all but 10 kB)
    import shutil
    path = os.path.join(small, "filler")
    with open(path, "wb") as f:
        f.write(b"x" * (size or shutil.disk_usage(small).free - 10_000))
    return path

def drafted():  # a draft of 20 files of 25 kB, added from a folder outside the small disk
    art = satchel.Artifact("ds", "dataset")
    art.add_dir(dataset(os.path.join(outside, "data"), 20, 25_000))
    return art

def committed():  # the draft committed to a store outside the small disk: (store, p/ds:v0)
    store = os.path.join(outside, "store")
    drafted().save("p", store=store)
    return store, satchel.Api(store, "p").artifact("ds:v0")

def dataset(top, n, size):
    os.makedirs(top, exist_ok=True)
    for i in range(n):
        with open(os.path.join(top, f"f{i:02d}.bin"), "wb") as f:
            f.write(os.urandom(size))
    return top
"""


def run_on_small_disk(
    tmp_path: Path, size_kib: int, script: str, *, read_only: bool = False
) -> dict[str, Any]:
    """Run ``script`` (after :data:`PRELUDE`) with a ``size_kib`` tmpfs (read-only if asked) at
    ``argv[1]`` and an ordinary folder at ``argv[2]``; return the ``result`` dict it printed
    as JSON."""
    if shutil.which("unshare") is None:
        pytest.fail(
            "the full-disk tests need `unshare` (util-linux) to mount a small tmpfs in "
            "a private mount namespace; install util-linux"
        )
    small, outside = tmp_path / "small", tmp_path / "outside"
    small.mkdir()
    outside.mkdir()
    code = PRELUDE + textwrap.dedent(script) + "\nprint('RESULT ' + json.dumps(result))\n"
    env = {**os.environ, "SATCHEL_NO_PROGRESS": "1", "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
         'mount -t tmpfs -o "$1" tmpfs "$2" || exit 97; shift 2; exec "$@"',
         "sh", f"{'ro,' if read_only else ''}size={size_kib}k", str(small), sys.executable, "-c", code, str(small), str(outside)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    if proc.returncode == 97 or "unshare:" in proc.stderr:
        pytest.fail(
            "the full-disk tests mount a small tmpfs in a user and mount namespace; "
            f"this machine refused ({proc.stderr.strip()}); enable unprivileged user "
            "namespaces (sysctl kernel.unprivileged_userns_clone=1)"
        )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout + proc.stderr
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return result


#: what the message says of each role of a full folder, and what frees its disk
ROLE_TEXT = {
    "cache": (
        "the cache",
        (
            "`satchel cache cleanup --target-size SIZE` trims the cache, "
            "SATCHEL_CACHE_DIR (or --cache-dir) moves it"
        ),
    ),
    "store": (
        "the store",
        (
            "`satchel gc` removes content no version uses (`satchel delete` "
            "versions you no longer need first), or use a store on a disk with room"
        ),
    ),
    "target": ("the download folder", "free space there or pick a folder on another disk"),
    "temp": (
        "the temporary folder",
        "free space there or set TMPDIR to a folder on a disk with room",
    ),
}


def _check_error(err: dict[str, Any] | None, folder: str, doing: str, role: str) -> None:
    assert err is not None, "no DiskFullError"
    assert err["type"] == "DiskFullError" and err["is_oserror"] and err["errno"] == 28
    assert err["folder"] is not None and err["folder"].startswith(folder), err
    assert err["role"] == role, err
    name, remedy = ROLE_TEXT[role]
    assert err["message"] == (
        f"no space is left on the disk of {err['folder']} ({name}) while {doing}; nothing "
        f"half-written was kept. To free that disk: {remedy}; then try again"
    )


def test_the_error_is_a_satchel_error_and_an_os_error_with_the_errno() -> None:
    err = DiskFullError("no space", errno=28, folder="/x")
    assert isinstance(err, SatchelError) and isinstance(err, OSError)
    assert (err.errno, err.folder, str(err)) == (28, "/x", "no space")


def test_adding_into_a_full_cache_raises_and_leaves_no_object_pack_or_temporary(
    tmp_path: Path,
) -> None:
    result = run_on_small_disk(
        tmp_path,
        512,
        """
        os.environ["SATCHEL_CACHE_DIR"] = os.path.join(small, "cache")
        many = dataset(os.path.join(outside, "many"), 40, 30_000)   # small files: packs
        big = dataset(os.path.join(outside, "big"), 1, 900_000)     # one large file
        for policy in ("mutable", "immutable"):
            art = satchel.Artifact("ds", "dataset")
            fail(f"dir-{policy}", lambda: art.add_dir(many, policy=policy))
        art = satchel.Artifact("ds", "dataset")
        fail("file", lambda: art.add_file(os.path.join(big, "f00.bin")))
        fail("object", lambda: art.add(os.urandom(900_000), "blob.bin"))
        def new_file():
            with art.new_file("made.bin", mode="wb") as f:
                f.write(os.urandom(900_000))
        fail("new_file", new_file)
        result["cache"] = listing(os.path.join(small, "cache"))
        result["entries"] = len(art.manifest.entries)
        art.add(b"small", "small.txt")  # the draft is still usable
        result["after"] = sorted(art.manifest.entries)
    """,
    )
    cache = str(tmp_path / "small" / "cache")
    _check_error(result["dir-mutable"], cache, "adding a folder to ds", "cache")
    assert result["dir-immutable"] is None  # immutable adds write nothing but the stat cache
    _check_error(result["file"], cache, "adding a file to ds", "cache")
    _check_error(result["object"], cache, "adding an object to ds", "cache")
    _check_error(result["new_file"], cache, "adding a file to ds", "cache")
    assert [p for p in result["cache"] if not p.startswith("stat.db")] == []
    assert result["entries"] == 0 and result["after"] == ["small.txt"]


def test_saving_into_a_full_local_store_commits_nothing_and_succeeds_once_there_is_room(
    tmp_path: Path,
) -> None:
    result = run_on_small_disk(
        tmp_path,
        1024,
        """
        store = os.path.join(small, "store")
        filler = fill(800_000)
        art = drafted()
        fail("save", lambda: art.save("p", store=store))
        result["tmp"] = [p for p in listing(store) if p.endswith(".tmp")]
        result["versions"] = [p for p in listing(store) if "/versions/" in p]
        os.remove(filler)  # room again: the same draft commits
        art.save("p", store=store)
        result["version"] = art.version
        got = satchel.Api(store, "p").artifact("ds:latest")
        got.verify(got.download(os.path.join(outside, "out")))
        result["files"] = got.file_count
    """,
    )
    _check_error(result["save"], str(tmp_path / "small" / "store"), "saving ds", "store")
    assert result["tmp"] == [] and result["versions"] == []
    assert result["version"] == "v0" and result["files"] == 20


def test_downloading_onto_a_full_disk_keeps_no_partial_file_and_works_once_there_is_room(
    tmp_path: Path,
) -> None:
    result = run_on_small_disk(
        tmp_path,
        1024,
        """
        store, got = committed()
        filler = fill(800_000)
        root = os.path.join(small, "out")
        fail("download", lambda: got.download(root))
        fail("checkout", lambda: got.checkout(root))
        kept = listing(root)
        result["tmp"] = [p for p in kept if p.endswith(".tmp")]
        result["partial"] = [p for p in kept if os.path.getsize(os.path.join(root, p)) != 25_000]
        os.remove(filler)
        got.verify(got.download(root))
        import subprocess
        os.remove(os.path.join(root, "f00.bin"))
        fill(None)  # leave less room than the missing file needs
        cli = subprocess.run([sys.executable, "-m", "satchel", "--store", store, "--project",
                              "p", "get", "ds:v0", "--root", root],
                             capture_output=True, text=True)
        result["cli"] = [cli.returncode, cli.stdout, cli.stderr]
    """,
    )
    out = str(tmp_path / "small")
    _check_error(result["download"], out, "downloading ds", "target")
    _check_error(result["checkout"], out, "checking out ds", "target")
    assert result["tmp"] == [] and result["partial"] == []
    code, stdout, stderr = result["cli"]
    assert code == 1 and stdout == ""
    assert stderr.startswith("satchel: error: no space is left on the disk of ")
    assert "(the download folder) while downloading ds" in stderr
    assert stderr.count("\n") == 1 and "Traceback" not in stderr


def test_a_used_up_quota_is_named_as_such_with_the_failing_files_folder(tmp_path: Path) -> None:
    # Quotas cannot be set up in a user namespace here, so the translator is fed the OSError
    # the kernel raises for EDQUOT, with the file name the OS reported.
    import errno

    from satchel.fsutil import local_errors_typed

    failing = tmp_path / "cache" / "objects" / "x.tmp"
    with pytest.raises(DiskFullError) as info, local_errors_typed("saving ds", list):
        raise OSError(errno.EDQUOT, "Disk quota exceeded", str(failing))
    assert info.value.errno == errno.EDQUOT and info.value.folder == str(failing.parent)
    assert str(info.value) == (
        f"the disk quota is used up on the disk of {failing.parent} while saving ds; nothing "
        "half-written was kept. Free space there (`satchel cache cleanup --target-size SIZE` "
        "trims the cache, SATCHEL_CACHE_DIR moves it) and try again"
    )
    # a failed copy names its source, then its destination (shutil): the destination counts
    copied = tmp_path / "out" / "f.bin"
    with pytest.raises(DiskFullError) as info, local_errors_typed("downloading ds", list):
        raise OSError(errno.ENOSPC, "No space left on device", str(failing), None, str(copied))
    assert info.value.folder == str(copied.parent)
    with pytest.raises(IsADirectoryError), local_errors_typed("saving ds", list):
        raise IsADirectoryError(errno.EISDIR, "Is a directory")  # other errors pass unchanged


def test_a_full_temporary_folder_under_new_file_is_named(tmp_path: Path) -> None:
    result = run_on_small_disk(
        tmp_path,
        256,
        """
        os.environ["TMPDIR"] = small
        art = satchel.Artifact("ds", "dataset")
        def new_file():
            with art.new_file("made.bin", mode="wb") as f:
                f.write(os.urandom(600_000))
        fail("new_file", new_file)
        result["left"] = listing(small)
    """,
    )
    _check_error(result["new_file"], str(tmp_path / "small"), "writing made.bin of ds", "temp")
    assert result["left"] == []


def test_a_read_only_filesystem_is_named_for_the_cache_the_store_and_the_download_folder(
    tmp_path: Path,
) -> None:
    result = run_on_small_disk(
        tmp_path,
        256,
        """
        store, got = committed()
        fail("download", lambda: got.download(os.path.join(small, "out")))
        fail("save", lambda: drafted().save("p", store=os.path.join(small, "store")))
        os.environ["SATCHEL_CACHE_DIR"] = os.path.join(small, "cache")
        fail("add", lambda: drafted())
        result["left"] = listing(small)
        import subprocess
        cli = subprocess.run([sys.executable, "-m", "satchel", "--store", store, "--project",
                              "p", "get", "ds:v0", "--root", os.path.join(small, "out")],
                             capture_output=True, text=True)
        result["cli"] = [cli.returncode, cli.stdout, cli.stderr]
    """,
        read_only=True,
    )
    small = str(tmp_path / "small")
    for key, path, doing in (
        ("download", f"{small}/out", "downloading ds"),
        ("save", f"{small}/store", "saving ds"),
        ("add", f"{small}/cache", "adding a folder to ds"),
    ):
        err = result[key]
        assert err is not None and err["type"] == "LocalAccessError", (key, err)
        assert err["is_oserror"] and err["errno"] == 30 and err["path"] == path, (key, err)
        assert err["message"] == (
            f"{path} is on a read-only filesystem, while {doing}. Use a folder you may write "
            "to (SATCHEL_CACHE_DIR moves the cache) or fix its permissions, and try again"
        )
    assert result["left"] == []
    code, stdout, stderr = result["cli"]
    assert (code, stdout) == (1, "")
    assert stderr == (
        f"satchel: error: {small}/out is on a read-only filesystem, while downloading ds. Use "
        "a folder you may write to (SATCHEL_CACHE_DIR moves the cache) or fix its "
        "permissions, and try again\n"
    )


def test_permission_denied_is_named_with_the_path(tmp_path: Path) -> None:
    # The suite may run as root, for whom permission bits deny nothing; the translator is fed
    # the OSError the kernel raises for a path the user may not write.
    import errno

    from satchel.fsutil import local_errors_typed

    for number in (errno.EACCES, errno.EPERM):
        with pytest.raises(LocalAccessError) as info, local_errors_typed("saving ds", list):
            raise OSError(number, "Permission denied", str(tmp_path / "store"))
        assert isinstance(info.value, PermissionError) and info.value.errno == number
        assert info.value.path == str(tmp_path / "store")
        assert str(info.value) == (
            f"{tmp_path / 'store'} may not be read or written by you (permission denied), "
            "while saving ds. Use a folder you may write to (SATCHEL_CACHE_DIR moves the "
            "cache) or fix its permissions, and try again"
        )


def test_the_command_line_prints_one_line_for_an_os_error_nothing_typed(tmp_path: Path) -> None:
    store = tmp_path / "store"
    services = local_services(cache_dir=str(tmp_path / "cache"), store=open_store(str(store)))
    commit_files(services, "ds", {"a.txt": b"hi"}, {})
    (tmp_path / "loop").symlink_to("loop")  # a symbolic link to itself: ELOOP
    cmd = [
        sys.executable,
        "-m",
        "satchel",
        "--store",
        str(store),
        "--project",
        PROJECT,
        "get",
        "ds:v0",
        "--root",
        str(tmp_path / "loop" / "x"),
    ]
    env = {**os.environ, "SATCHEL_CACHE_DIR": str(tmp_path / "cache"), "SATCHEL_NO_PROGRESS": "1"}
    env.pop("SATCHEL_DEBUG", None)
    cli = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert (cli.returncode, cli.stdout) == (1, "")
    assert cli.stderr == (
        f"satchel: error: [Errno 40] Too many levels of symbolic links: "
        f"'{tmp_path / 'loop' / 'x'}' (set SATCHEL_DEBUG=1 for the traceback)\n"
    )
    debug = subprocess.run(
        cmd, capture_output=True, text=True, check=False, env={**env, "SATCHEL_DEBUG": "1"}
    )
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr


def test_put_skip_cache_needs_no_cache_room_on_a_local_store_or_a_bucket(
    tmp_path: Path, s3_bucket: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cache is a 512 KiB disk; the artifact is 960 kB. A plain put snapshots it into the
    # cache and finds the disk full (naming the cache and its remedy); with --skip-cache the
    # files go to the store without a cached copy, to a local store and to S3 alike.
    monkeypatch.setenv("SATCHEL_STORAGE_OPTIONS", json.dumps({"s3": s3_bucket.storage_options}))
    monkeypatch.setenv("SATCHEL_TEST_BUCKET", f"{s3_bucket.url}/team")
    result = run_on_small_disk(
        tmp_path,
        512,
        """
        import subprocess
        cache = os.path.join(small, "cache")
        os.environ["SATCHEL_CACHE_DIR"] = cache
        data = dataset(os.path.join(outside, "data"), 80, 12_000)
        def cli(store, *args):
            p = subprocess.run([sys.executable, "-m", "satchel", "--store", store, "put", data,
                                "--name", "ds", "--type", "dataset", *args],
                               capture_output=True, text=True)
            return [p.returncode, p.stdout, p.stderr]
        local = os.path.join(outside, "store")
        result["plain"] = cli(local)
        for kind, store in (("local", local), ("s3", os.environ["SATCHEL_TEST_BUCKET"])):
            result[f"{kind}-skip"] = cli(store, "--skip-cache", "--json")
            result[f"{kind}-cache"] = [p for p in listing(cache) if not p.startswith("stat.db")]
            got = satchel.Api(store).artifact("ds:v0")
            got.verify(data)
            result[f"{kind}-files"] = got.file_count
    """,
    )
    code, out, err = result["plain"]
    assert (code, out) == (1, "") and err.count("\n") == 1, err
    assert err.startswith(f"satchel: error: no space is left on the disk of {tmp_path}/small/cache")
    assert (
        "(the cache) while adding a folder to ds; nothing half-written was kept. To free "
        "that disk: `satchel cache cleanup --target-size SIZE` trims the cache"
    ) in err
    for kind in ("local", "s3"):
        code, out, err = result[f"{kind}-skip"]
        assert code == 0, err
        assert json.loads(out)["created"] is True and json.loads(out)["file_count"] == 80
        assert result[f"{kind}-cache"] == [], kind  # no object, pack or scratch file kept
        assert result[f"{kind}-files"] == 80


def test_a_full_store_disk_names_the_store_and_gc(tmp_path: Path) -> None:
    result = run_on_small_disk(
        tmp_path,
        512,
        """
        import subprocess
        data = dataset(os.path.join(outside, "data"), 40, 25_000)
        p = subprocess.run([sys.executable, "-m", "satchel", "--store", os.path.join(small, "s"),
                            "put", data, "--name", "ds", "--type", "dataset", "--skip-cache"],
                           capture_output=True, text=True)
        result["cli"] = [p.returncode, p.stdout, p.stderr]
        result["versions"] = [f for f in listing(small) if "/versions/" in f]
    """,
    )
    code, out, err = result["cli"]
    assert (code, out) == (1, "") and err.count("\n") == 1
    assert err.startswith(f"satchel: error: no space is left on the disk of {tmp_path}/small/s")
    assert err.endswith(
        "(the store) while saving ds; nothing half-written was kept. To free that disk: "
        "`satchel gc` removes content no version uses (`satchel delete` versions you no longer "
        "need first), or use a store on a disk with room; then try again\n"
    )
    assert result["versions"] == []
