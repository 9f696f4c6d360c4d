"""Core commands: ``put``, ``get``, ``checkout``, ``verify``, ``show``, ``cache``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from satchel.artifact import Artifact
from satchel.cache import parse_size
from satchel.checkout import UNSEEN_LIMIT, CheckoutPlan, selected
from satchel.cli.context import CliContext, add_json_flag
from satchel.cli.views import printable, version_json, version_lines
from satchel.errors import (
    ArtifactVerificationError,
    EntryNotFoundError,
    InvalidMetadataError,
    SourceFileNotFoundError,
)


def register(sub: Any) -> None:
    """Add the core commands to the ``satchel`` parser."""
    p = sub.add_parser(
        "put",
        help="commit a file or folder as a new version",
        description="Commit a file or folder as the next version of an artifact. If the content "
        "equals the latest version's, no version is created: the given description, metadata, "
        "tags and aliases are applied to the latest version and the change is reported. Entries "
        "that are not regular files or folders (links to folders, link loops, dangling links, "
        "FIFOs, sockets) are skipped with a warning listing them.",
    )
    p.add_argument("path", help="file or folder to commit")
    p.add_argument("--name", required=True, help="artifact name")
    p.add_argument("--type", required=True, help="artifact type, e.g. dataset or model")
    p.add_argument("--alias", action="append", default=[], help="alias to set (repeatable)")
    p.add_argument("--tag", action="append", default=[], help="tag to add (repeatable)")
    p.add_argument("--description", help="description of the version")
    p.add_argument("--metadata", help="metadata as a JSON object")
    p.add_argument(
        "--policy",
        choices=("mutable", "immutable"),
        default="mutable",
        help="mutable: snapshot files now (default); immutable: read them again at commit",
    )
    p.add_argument(
        "--skip-cache",
        action="store_true",
        help="keep no copy in the cache: files are hashed now and streamed to the store at "
        "commit, so the cache needs no room for the artifact (they must not change meanwhile)",
    )
    add_json_flag(p)
    p.set_defaults(func=cmd_put)

    p = sub.add_parser(
        "get",
        help="download a version into a folder",
        description="Download a version through the cache. Existing files with the right content "
        "are kept; other files are left alone (see checkout).",
    )
    p.add_argument("ref", help="NAME, NAME:v3, NAME:alias or PROJECT/NAME:alias")
    p.add_argument("--root", help="destination folder (default ./artifacts/NAME-vN)")
    p.add_argument("--path-prefix", help="only files whose path starts with this")
    p.add_argument(
        "--allow-missing-references",
        action="store_true",
        help="skip references that vanished or changed, with a warning",
    )
    add_json_flag(p)
    p.set_defaults(func=cmd_get)

    p = sub.add_parser(
        "checkout",
        help="make a folder match a version exactly (deletes other files)",
        description="Download what is missing or changed and DELETE every file in DIR that the "
        "version does not list. Refused for a DIR that is, is inside or holds a satchel store "
        "or cache, that is or holds your home folder, that is a filesystem root, or that holds "
        "the working directory. Deleting more than "
        f"{UNSEEN_LIMIT} files satchel did not write needs --force.",
    )
    p.add_argument("ref", help="NAME[:VERSION|:ALIAS]")
    p.add_argument("dir", help="folder to make match")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list what would be deleted and written; change nothing",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help=f"delete even more than {UNSEEN_LIMIT} files satchel did not write",
    )
    add_json_flag(p)
    p.set_defaults(func=cmd_checkout)

    p = sub.add_parser(
        "verify",
        help="check that a folder matches a version",
        description="Exit 0 when DIR holds exactly the version's files; otherwise list every "
        "missing, extra and changed file and exit 1.",
    )
    p.add_argument("ref", help="NAME[:VERSION|:ALIAS]")
    p.add_argument("dir", help="folder to check")
    add_json_flag(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("show", help="describe a version", description="Describe a version.")
    p.add_argument("ref", help="NAME[:VERSION|:ALIAS]")
    p.add_argument("--files", action="store_true", help="also list every file")
    add_json_flag(p)
    p.set_defaults(func=cmd_show)

    cache = sub.add_parser("cache", help="manage the local cache", description="Manage the cache.")
    csub = cache.add_subparsers(dest="cache_command", metavar="ACTION")
    csub.required = True
    p = csub.add_parser(
        "cleanup",
        help="remove least-recently-used cache files",
        description="Remove temporary files of interrupted writers (older than a day, not held "
        "by a live draft), then least-recently-used files until the cache holds at most "
        "TARGET. Only bytes that deleting frees count: files whose bytes hard links outside "
        "the cache keep are left alone.",
    )
    p.add_argument("--target-size", default="10GB", help="size to shrink to (default 10GB)")
    p.add_argument("--dry-run", action="store_true", help="only report what would go")
    add_json_flag(p)
    p.set_defaults(func=cmd_cache_cleanup)
    p = csub.add_parser("info", help="where the cache is and how big", description="Cache info.")
    add_json_flag(p)
    p.set_defaults(func=cmd_cache_info)


def cmd_put(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel put``."""
    try:
        metadata = json.loads(args.metadata) if args.metadata else None
    except json.JSONDecodeError as exc:
        raise InvalidMetadataError(f"--metadata is not valid JSON: {exc}") from exc
    art = Artifact(
        args.name,
        args.type,
        description=args.description,
        metadata=metadata,
        services=ctx.api.services,
    )
    if os.path.isdir(args.path):
        art.add_dir(args.path, policy=args.policy, skip_cache=args.skip_cache)
    elif os.path.isfile(args.path):
        art.add_file(args.path, policy=args.policy, skip_cache=args.skip_cache)
    elif os.path.lexists(args.path):
        kind = "a dangling symbolic link" if os.path.islink(args.path) else "a special file"
        raise SourceFileNotFoundError(
            f"{printable(args.path)} is {kind}, neither a regular file nor a folder; put a "
            "file or a folder"
        )
    else:
        raise SourceFileNotFoundError(
            f"{printable(args.path)} does not exist; put a file or a folder"
        )
    art.save(ctx.api.project, aliases=args.alias, tags=args.tag)
    outcome = art.save_result
    assert outcome is not None
    if args.json:
        ctx.json(
            {**version_json(art), "created": outcome.created, "updated": list(outcome.updated)}
        )
    elif outcome.created:
        ctx.print(
            f"committed {art.qualified_name}: {art.file_count} files, {art.size} bytes, "
            f"digest {art.digest}"
        )
    else:
        edits = f"; updated its {', '.join(outcome.updated)}" if outcome.updated else ""
        ctx.print(
            f"unchanged: {art.qualified_name} already holds this content "
            f"(digest {art.digest}){edits}"
        )
    return 0


def cmd_get(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel get``."""
    art = ctx.api.artifact(args.ref)
    prefix = args.path_prefix
    if prefix and not selected(art.manifest, prefix):
        # the API filters silently, as W&B's does; on the command line an empty result is
        # almost always a typo
        raise EntryNotFoundError(
            f"no file of {art.qualified_name} has a path starting with {prefix!r}; nothing "
            f"was downloaded. See 'satchel show {args.ref} --files'"
        )
    root = art.download(
        args.root,
        path_prefix=prefix,
        allow_missing_references=args.allow_missing_references,
    )
    if args.json:
        ctx.json({"name": art.qualified_name, "root": root})
    else:
        ctx.print(printable(root))
    return 0


def cmd_checkout(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel checkout``."""
    art = ctx.api.artifact(args.ref)
    if args.dry_run:
        _print_plan(ctx, art, art.checkout(args.dir, dry_run=True), as_json=args.json)
        return 0
    result = art.checkout(args.dir, force=args.force, summary=True)
    if args.json:
        ctx.json(
            {
                "name": art.qualified_name,
                "root": result.root,
                "deleted": len(result.deleted),
                "written": len(result.written),
                "kept": len(result.kept),
            }
        )
    else:
        ctx.print(f"{result.root} now matches {art.qualified_name}: {result.summary()}")
    return 0


def _print_plan(ctx: CliContext, art: Artifact, plan: CheckoutPlan, *, as_json: bool) -> None:
    """``checkout --dry-run``: every file to delete or write, counts, and whether a real run
    needs ``--force``."""
    if as_json:
        ctx.json(
            {
                "name": art.qualified_name,
                "root": plan.root,
                "dry_run": True,
                "delete": list(plan.delete),
                "unseen": list(plan.unseen),
                "clear": list(plan.clear),
                "write": list(plan.write),
                "keep": len(plan.keep),
                "needs_force": plan.needs_force,
            }
        )
        return
    ctx.print(
        f"dry run: checking out {art.qualified_name} into {plan.root} "
        f"{plan.summary()}; nothing was changed"
    )
    unseen = set(plan.unseen)
    for path in plan.delete:
        ctx.print(f"  delete  {path}{'  (not written by satchel)' if path in unseen else ''}")
    for path in plan.clear:
        ctx.print(f"  remove  {path}  (in the way of the version's files)")
    for path in plan.write:
        ctx.print(f"  write   {path}")
    if plan.needs_force:
        ctx.print(
            f"a real run needs --force: it deletes {len(plan.unseen)} files satchel did "
            f"not write (more than {plan.limit})"
        )


def cmd_verify(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel verify``: exit 1 and list problems on mismatch (names escaped)."""
    art = ctx.api.artifact(args.ref)
    try:
        report = art.verify(args.dir)
    except ArtifactVerificationError as exc:
        if args.json:
            ctx.json(
                {
                    "ok": False,
                    "missing": exc.missing,
                    "extra": exc.extra,
                    "changed": exc.changed,
                    "unverifiable": exc.unverifiable,
                    "folder_exists": os.path.isdir(args.dir),
                }
            )
            return 1
        if not os.path.isdir(args.dir):
            raise  # one line: the folder does not exist
        where = printable(os.path.abspath(args.dir))
        lines = [f"folder {where} does not match {art.qualified_name}:"]
        for label, items in (
            ("missing", exc.missing),
            ("extra", exc.extra),
            ("changed", exc.changed),
        ):
            if items:
                shown = ", ".join(printable(p) for p in items[:50])
                more = f" (+{len(items) - 50} more)" if len(items) > 50 else ""
                lines.append(f"  {len(items)} {label}: {shown}{more}")
        lines.append(
            f"  run 'satchel checkout {args.ref} {printable(args.dir)}' to make the "
            "folder match (it deletes the extra files)"
        )
        print("satchel: error: " + "\n".join(lines), file=sys.stderr)
        return 1
    if args.json:
        ctx.json(
            {"ok": True, "verified": report.verified, "unverifiable": list(report.unverifiable)}
        )
    else:
        ctx.print(
            f"ok: {printable(args.dir)} matches {art.qualified_name} "
            f"({report.verified} files verified)"
        )
        for path in report.unverifiable:
            ctx.print(f"  not verifiable (reference without content hash): {printable(path)}")
    return 0


def cmd_show(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel show``."""
    art = ctx.api.artifact(args.ref)
    manifest = art.manifest  # loading it checks the record's digest against it
    info = version_json(art)
    if args.files:
        info["files"] = [
            {"path": e.path, "digest": e.digest, "size": e.size, "ref": e.ref} for e in manifest
        ]
    if args.json:
        ctx.json(info)
        return 0
    for line in version_lines(info):
        ctx.print(line)
    if art.metadata:
        ctx.print(f"{'metadata':15} {printable(json.dumps(art.metadata, sort_keys=True))}")
    for f in info.get("files", []):
        ref = f"  -> {printable(f['ref'])}" if f["ref"] else ""
        size = f["size"] if f["size"] is not None else "?"
        ctx.print(f"  {printable(f['path'])}  {size}  {f['digest']}{ref}")
    return 0


def cmd_cache_cleanup(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel cache cleanup``: temporaries of killed writers, then least-recently-used
    files; only bytes that deleting frees are counted."""
    cache = ctx.api.services.cache
    result = cache.cleanup(parse_size(args.target_size), dry_run=args.dry_run)
    if args.json:
        ctx.json(
            {
                "removed_files": result.removed_files,
                "freed_bytes": result.freed_bytes,
                "remaining_bytes": result.remaining_bytes,
                "removed_temporaries": result.removed_temporaries,
                "temporary_bytes": result.temporary_bytes,
                "shared_files": result.shared_files,
                "shared_bytes": result.shared_bytes,
                "dry_run": args.dry_run,
            }
        )
        return 0
    verb = "would remove" if args.dry_run else "removed"
    ctx.print(
        f"{verb} {result.removed_files} files, {result.freed_bytes} bytes; "
        f"{result.remaining_bytes} bytes remain in {printable(cache.root)}"
    )
    if result.removed_temporaries:
        ctx.print(
            f"{verb} {result.removed_temporaries} temporary file(s) of interrupted "
            f"writers, {result.temporary_bytes} bytes"
        )
    if result.shared_files:
        ctx.print(_shared_note(result.shared_files, result.shared_bytes))
        if not args.dry_run:
            ctx.print("their names in the cache were removed (the files outside stay whole)")
    return 0


def _shared_note(files: int, size: int) -> str:
    return (
        f"not counted: {files} file(s), {size} bytes, whose bytes hard links outside the "
        "cache keep (deleting them would free nothing)"
    )


def cmd_cache_info(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel cache info``: bytes that deleting would free, temporaries included."""
    cache = ctx.api.services.cache
    use = cache.usage()
    if args.json:
        ctx.json(
            {
                "root": cache.root,
                "bytes": use.total_bytes,
                "files": use.files,
                "content_bytes": use.bytes,
                "temporaries": use.temporaries,
                "temporary_bytes": use.temporary_bytes,
                "shared_files": use.shared_files,
                "shared_bytes": use.shared_bytes,
            }
        )
        return 0
    ctx.print(
        f"{printable(cache.root)}: {use.total_bytes} bytes ({use.files} file(s), "
        f"{use.bytes} bytes; {use.temporaries} temporary file(s), "
        f"{use.temporary_bytes} bytes)"
    )
    if use.shared_files:
        ctx.print(_shared_note(use.shared_files, use.shared_bytes))
    return 0
