"""The ``satchel`` command: a thin layer over the public API.

Each command group lives in its own module exposing ``register(sub)``, which adds
sub-commands whose ``func(args, ctx) -> int`` does the work. Global options: ``--store URL``
(env ``SATCHEL_STORE``), ``--project P`` (env ``SATCHEL_PROJECT``), ``--cache-dir DIR`` (env
``SATCHEL_CACHE_DIR``) and ``--json``, accepted before the command and after it
(``satchel ls --store X``); given in both places, the one after the command wins. A user error
prints one line, ``satchel: error: ...``, and exits 1, never a traceback; ``SATCHEL_DEBUG=1``
shows tracebacks. A warning (skipped special files or folders, an unverifiable reference, a
store folder that does not exist) prints one line, ``satchel: warning: ...``, on stderr.
Control characters in messages (a file name's line break, say) are escaped, so no name can
forge an output line.
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
from satchel.paths import printable

#: modules that contribute commands, in help order
COMMAND_MODULES = ("satchel.cli.core", "satchel.cli.registry", "satchel.cli.admin")
#: commands that create the store when it does not exist; ``cache`` does not use the store.
#: Every other command reads the store first and warns when a local store's folder is missing.
STORE_CREATING = frozenset({"put", "apply", "import-wandb", "cache"})


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    parser = argparse.ArgumentParser(
        prog="satchel",
        description="Version datasets and models as artifacts, on a folder or a bucket.",
    )
    _add_global_options(parser, default=None)
    parser.add_argument(
        "--json",
        action="store_true",
        default=False,
        help="print JSON instead of text (also after the command)",
    )
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
    for leaf in _leaf_parsers(parser):
        # SUPPRESS: an option not given after the command leaves the one before it in place
        _add_global_options(leaf, default=argparse.SUPPRESS)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    taken = set(parser._option_string_actions)
    for flag, text in (
        ("--store", "store URL or folder (env SATCHEL_STORE)"),
        ("--project", "project (env SATCHEL_PROJECT, default 'default')"),
        ("--cache-dir", "cache folder (env SATCHEL_CACHE_DIR)"),
    ):
        if flag not in taken:
            parser.add_argument(flag, default=default, help=text)


def _leaf_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parsers of every command that takes no further sub-command (``ls``, ``cache info``)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [parser]
    out: list[argparse.ArgumentParser] = []
    for action in subs:
        for child in dict.fromkeys(action.choices.values()):  # aliases share a parser
            out.extend(_leaf_parsers(child))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    ctx = CliContext.from_args(args)
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # each distinct warning once
        warnings.showwarning = _WarningPrinter()
        return _run(args, ctx)


def _run(args: argparse.Namespace, ctx: CliContext) -> int:
    try:
        if args.command not in STORE_CREATING:
            ctx.api._reading()  # warns once when a local store's folder is missing
        return int(args.func(args, ctx) or 0)
    except (SatchelError, FileNotFoundError, ValueError) as exc:
        if os.environ.get("SATCHEL_DEBUG"):
            raise
        # one line: control characters (a file name's line break) are escaped, never printed
        message = printable(str(exc).strip()) or type(exc).__name__
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
        print(
            f"satchel: error: {printable(str(exc))} (set SATCHEL_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
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
        text = printable(str(message).strip())
        if text in self._shown:  # the same skipped record met by two steps of one command
            return
        self._shown.add(text)
        print(f"satchel: warning: {text}", file=file or sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
