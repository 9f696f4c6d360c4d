"""Store administration commands: ``fsck`` (with ``--repair``)."""

from __future__ import annotations

import argparse
from typing import Any

from satchel.cli.context import CliContext, add_json_flag
from satchel.errors import InvalidQueryError
from satchel.fsck import check_store, describe
from satchel.progress import default_factory


def register(sub: Any) -> None:
    """Add the administration commands to the ``satchel`` parser."""
    p = sub.add_parser(
        "fsck",
        help="check that every version's records, manifest and objects are sound",
        description="Check the store: every live version's record (and that it agrees with "
        "its file name), manifest and objects exist (and with --deep, every object hashes to "
        "its name); every alias names a live version; no stray file sits among the records. "
        "Objects and manifests no version names are listed as unreferenced, which is not an "
        "error ('satchel gc' removes them). Exits 1 when a problem is found. With --repair, "
        "damaged and stray records are moved to the store's quarantine/ folder (nothing is "
        "deleted), missing collection records are written again, and missing or corrupt "
        "objects are put back from the cache or from --from folders.",
    )
    p.add_argument(
        "--deep", action="store_true", help="also read every object and check its digest"
    )
    p.add_argument(
        "--repair",
        action="store_true",
        help="move bad records to quarantine/ and put back missing objects (see --from)",
    )
    p.add_argument(
        "--from",
        dest="sources",
        action="append",
        default=[],
        metavar="DIR",
        help="with --repair: a folder holding lost files (hashed to find matching content); "
        "may be repeated",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="with --repair: only say what would be done"
    )
    add_json_flag(p)
    p.set_defaults(func=cmd_fsck)


def cmd_fsck(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel fsck [--deep] [--repair [--from DIR]... [--dry-run]] [--json]``."""
    progress = default_factory()
    if not args.repair:
        if args.sources or args.dry_run:
            raise InvalidQueryError(
                f"{'--from' if args.sources else '--dry-run'} only goes with --repair; "
                "e.g. 'satchel fsck --repair --from DIR'"
            )
        report = check_store(ctx.api.store, deep=args.deep, progress=progress)
        if args.json:
            ctx.json(report.to_json())
        else:
            for line in describe(report):
                ctx.print(line)
        return 0 if report.ok else 1
    return _repair(args, ctx)


def _repair(args: argparse.Namespace, ctx: CliContext) -> int:
    from satchel.repair import repair_store

    would = "would " if args.dry_run else ""
    result = repair_store(
        ctx.api.store,
        cache=ctx.api.services.cache,
        sources=args.sources,
        deep=args.deep,
        dry_run=args.dry_run,
        progress=default_factory(),
    )
    if args.json:
        ctx.json(result.to_json())
        return 0 if result.ok else 1
    if result.moved:
        ctx.print(f"{would}move {len(result.moved)} file(s) to {result.quarantine}/:")
        for key in result.moved:
            ctx.print(f"  {key}")
    for key in result.rewritten:
        ctx.print(f"{would}write {key} again from its versions")
    for key, source in result.restored:
        ctx.print(f"{would}put back {key} from {source}")
    for key in result.not_found:
        ctx.print(
            f"no good copy of {key} in the cache"
            + (" or the --from folders" if args.sources else "; try --from DIR")
        )
    if not (result.moved or result.rewritten or result.restored):
        ctx.print("nothing to repair automatically")
    if not args.dry_run:
        ctx.print("after the repair:")
    for line in describe(result.after):
        ctx.print(line)
    return 0 if result.ok else 1
