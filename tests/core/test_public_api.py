"""The public surface: ``satchel.__all__``, docstrings on every public name, ``py.typed``."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import pytest

import satchel

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]


#: looked up when read (module __getattr__): the active run and its config, as wandb.run/config
DYNAMIC = {"run", "config"}


def _public_namespace() -> set[str]:
    return (
        {n for n, v in vars(satchel).items() if not n.startswith("_") and not inspect.ismodule(v)}
        | {"__version__"}
        | DYNAMIC
    )


def test_all_matches_public_names() -> None:
    assert len(satchel.__all__) == len(set(satchel.__all__)), "duplicates in __all__"
    assert set(satchel.__all__) == _public_namespace()
    for name in satchel.__all__:
        assert hasattr(satchel, name), name


def test_all_is_sorted() -> None:
    assert satchel.__all__ == sorted(satchel.__all__)


def test_version() -> None:
    assert isinstance(satchel.__version__, str)
    assert satchel.__version__.count(".") >= 2


def test_every_exported_error_is_in_the_tree() -> None:
    from satchel import errors

    for name in satchel.__all__:
        obj = getattr(satchel, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            assert obj is getattr(errors, name)
            # the one warning category lives in errors.py too, beside the tree
            assert issubclass(obj, satchel.SatchelError) or obj is errors.StoreDamageWarning


def test_every_public_error_class_is_exported() -> None:
    from satchel import errors

    public = {
        n
        for n, o in vars(errors).items()
        if inspect.isclass(o) and issubclass(o, errors.SatchelError) and not n.endswith("_")
    }
    assert public - set(satchel.__all__) == set()


def _members(obj: type) -> list[tuple[str, object]]:
    out = []
    for name, value in vars(obj).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if inspect.isfunction(value) or isinstance(value, property):
            out.append((name, value))
    return out


PUBLIC = [n for n in satchel.__all__ if n != "__version__" and n not in DYNAMIC]


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_has_a_docstring(name: str) -> None:
    obj = getattr(satchel, name)
    assert inspect.getdoc(obj), f"satchel.{name} has no docstring"
    if inspect.isclass(obj) and not issubclass(obj, BaseException):
        missing = [m for m, v in _members(obj) if not (getattr(v, "__doc__", None) or "").strip()]
        assert missing == [], f"satchel.{name} members without docstring: {missing}"


def test_py_typed_is_shipped() -> None:
    package = Path(satchel.__file__).parent
    assert (package / "py.typed").is_file()
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["satchel"]


def test_public_functions_are_annotated() -> None:
    for name in PUBLIC:
        obj = getattr(satchel, name)
        funcs = (
            [obj]
            if inspect.isfunction(obj)
            else (
                [v.fget if isinstance(v, property) else v for _m, v in _members(obj)]
                if inspect.isclass(obj) and not issubclass(obj, BaseException)
                else []
            )
        )
        for f in funcs:
            if f is None:
                continue
            sig = inspect.signature(f)
            assert sig.return_annotation is not inspect.Signature.empty, f"{name}.{f.__name__}"


def test_satchel_imports_and_commits_without_posix_only_modules(tmp_path: Path) -> None:
    # As on Windows: no fcntl (and so no O_DIRECT path); a local commit and download still work.
    import subprocess
    import textwrap

    script = textwrap.dedent(
        """
        import os, sys
        sys.modules["fcntl"] = None  # importing it now raises ImportError
        if hasattr(os, "O_DIRECT"):
            del os.O_DIRECT
        import satchel
        big = os.path.join(sys.argv[1], "big.bin")
        with open(big, "wb") as f:
            f.write(os.urandom(9 << 20))
        art = satchel.Artifact("ds", "dataset")
        art.add_file(big)
        art.save()
        out = satchel.Api().artifact("ds:latest").download(os.path.join(sys.argv[1], "out"))
        print(open(os.path.join(out, "big.bin"), "rb").read() == open(big, "rb").read())
        """
    )
    env = {
        **__import__("os").environ,
        "SATCHEL_STORE": str(tmp_path / "store"),
        "SATCHEL_CACHE_DIR": str(tmp_path / "cache"),
    }
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
