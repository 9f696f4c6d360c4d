"""The ``satchel`` command: a thin layer over the public API.

Each command group lives in its own module exposing ``register(sub, parent)``, which adds
sub-commands whose ``func(args, ctx) -> int`` does the work. Global options: ``--store URL``
(env ``SATCHEL_STORE``), ``--project P`` (env ``SATCHEL_PROJECT``). A user error prints one line,
``satchel: error: ...``, and exits 1, never a traceback; ``SATCHEL_DEBUG=1`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any, TextIO

from satchel.cli.context import CliContext
from satchel.errors import SatchelError

#: modules that contribute commands, in help order
COMMAND_MODULES = ("satchel.cli.core", "satchel.cli.registry", "satchel.cli.admin")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    parser = argparse.ArgumentParser(
        prog="satchel",
        description="Version datasets and models as artifacts, on a folder or a bucket.",
    )
    parser.add_argument("--store", help="store URL or folder (env SATCHEL_STORE)")
    parser.add_argument("--project", help="project (env SATCHEL_PROJECT, default 'default')")
    parser.add_argument("--cache-dir", help="cache folder (env SATCHEL_CACHE_DIR)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that group is not part of this build
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    ctx = CliContext.from_args(args)
    try:
        with warnings.catch_warnings():
            # a warning (a damaged record a listing skipped...) is one line, like an error
            warnings.simplefilter("default")
            warnings.showwarning = _WarningPrinter()
            return int(args.func(args, ctx) or 0)
    except (SatchelError, FileNotFoundError, ValueError) as exc:
        if os.environ.get("SATCHEL_DEBUG"):
            raise
        message = str(exc).strip().replace("\n", "\n  ") or type(exc).__name__
        print(f"satchel: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("satchel: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # an OS failure nothing above typed: one line, not a traceback
        if os.environ.get("SATCHEL_DEBUG"):
            raise
        print(f"satchel: error: {exc} (set SATCHEL_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


class _WarningPrinter:
    """``warnings.showwarning`` for the command line: one line per distinct message."""

    def __init__(self) -> None:
        self._shown: set[str] = set()

    def __call__(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: Any = None,
    ) -> None:
        text = str(message).strip().replace("\n", "\n  ")
        if text in self._shown:  # the same skipped record met by two steps of one command
            return
        self._shown.add(text)
        print(f"satchel: warning: {text}", file=file or sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
