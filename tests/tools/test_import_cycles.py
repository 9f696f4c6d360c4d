"""tools/check_imports.py: the package has no runtime import cycle but artifact <-> runs, and
the check does find one where there is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "check_imports.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_satchel_has_no_cycle_but_the_documented_pair() -> None:
    done = _run()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "satchel.artifact <-> satchel.runs" in done.stdout


def _package(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_function_level_cycle_is_found(tmp_path: Path) -> None:
    _package(
        tmp_path,
        {
            "__init__.py": "",
            "low.py": "def f():\n    from pkg.high import g\n    return g\n",
            "high.py": "from pkg import low\n\ndef g():\n    return low\n",
            "fine.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import high\n",
        },
    )
    done = _run(str(tmp_path), "--package", "pkg", "--allow", "pkg.fine,pkg.low")
    assert done.returncode == 1
    assert "import cycle among pkg.high, pkg.low" in done.stdout
    assert "pkg.fine" not in done.stdout  # a TYPE_CHECKING import is no edge


def test_an_allowed_cycle_passes_and_relative_imports_count(tmp_path: Path) -> None:
    _package(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "from . import b\n",
            "sub/__init__.py": "",
            "b.py": "from .sub import c\n",
            "sub/c.py": "from ..a import x\n",
        },
    )
    assert _run(str(tmp_path), "--package", "pkg").returncode == 1
    done = _run(str(tmp_path), "--package", "pkg", "--allow", "pkg.a,pkg.b,pkg.sub.c")
    assert done.returncode == 0, done.stdout
