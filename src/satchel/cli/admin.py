"""Store administration commands: ``fsck``."""

from __future__ import annotations

import argparse
from typing import Any

from satchel.cli.context import CliContext, add_json_flag
from satchel.fsck import check_store, describe
from satchel.progress import default_factory


def register(sub: Any) -> None:
    """Add the administration commands to the ``satchel`` parser."""
    p = sub.add_parser(
        "fsck",
        help="check that every version's manifest and objects are in the store",
        description="Check the store: every live version's record, manifest and objects exist "
        "(and with --deep, every object hashes to its name); every alias names a live version. "
        "Objects and manifests no version names are listed as unreferenced, which is not an "
        "error ('satchel gc' removes them). Exits 1 when a problem is found.",
    )
    p.add_argument(
        "--deep", action="store_true", help="also read every object and check its digest"
    )
    add_json_flag(p)
    p.set_defaults(func=cmd_fsck)


def cmd_fsck(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel fsck [--deep] [--json]``."""
    progress = default_factory()
    report = check_store(ctx.api.store, deep=args.deep, progress=progress)
    if args.json:
        ctx.json(report.to_json())
    else:
        for line in describe(report):
            ctx.print(line)
    return 0 if report.ok else 1
