"""What every CLI command receives: the resolved Api and output helpers."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from satchel import settings
from satchel.api import Api
from satchel.paths import printable


@dataclass
class CliContext:
    """Options shared by all commands; the :class:`Api` is built on first use."""

    store: str | None
    project: str | None
    cache_dir: str | None
    out: TextIO = field(default_factory=lambda: sys.stdout)
    _api: Api | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> CliContext:
        """Build from the global options (a relative ``--store`` or ``--cache-dir`` is made
        absolute here, once)."""
        store = settings.store_url(args.store) if args.store else None
        cache_dir = settings.cache_dir(args.cache_dir) if args.cache_dir else None
        return cls(store, args.project, cache_dir)

    @property
    def api(self) -> Api:
        """The Api for the chosen store and project."""
        if self._api is None:
            self._api = Api(self.store, self.project, cache_dir=self.cache_dir)
        return self._api

    def print(self, text: str = "") -> None:
        """Write a line of human output, control characters escaped: whatever a line holds
        (a file name with a line break, say), it stays one line."""
        print(printable(text), file=self.out)

    def json(self, data: Any) -> None:
        """Write data as indented JSON."""
        json.dump(data, self.out, indent=2, sort_keys=True, default=str)
        self.out.write("\n")


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--json`` (machine-readable output) to a command; ``satchel --json COMMAND``
    works too (the global option is the default)."""
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON instead of text"
    )
