"""Core commands: ``put``, ``get``, ``checkout``, ``verify``, ``show``, ``cache``."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from satchel.artifact import Artifact
from satchel.cache import parse_size
from satchel.checkout import selected
from satchel.cli.context import CliContext, add_json_flag
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
        "equals the latest version's, no version is created and the latest is reported.",
    )
    p.add_argument("path", help="file or folder to commit")
    p.add_argument("--name", required=True, help="artifact name")
    p.add_argument("--type", required=True, help="artifact type, e.g. dataset or model")
    p.add_argument("--alias", action="append", default=[], help="alias to set (repeatable)")
    p.add_argument("--tag", action="append", default=[], help="tag to add (repeatable)")
    p.add_argument("--description", help="description of the version")
    p.add_argument("--metadata", help="metadata as a JSON object")
    p.add_argument(
        "--policy", choices=("mutable", "immutable"), default="mutable",
        help="mutable: snapshot files now (default); immutable: read them again at commit",
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
        "--allow-missing-references", action="store_true",
        help="skip references that vanished or changed, with a warning",
    )
    add_json_flag(p)
    p.set_defaults(func=cmd_get)

    p = sub.add_parser(
        "checkout",
        help="make a folder match a version exactly (deletes other files)",
        description="Download what is missing or changed and DELETE every file in DIR that the "
        "version does not list.",
    )
    p.add_argument("ref", help="NAME[:VERSION|:ALIAS]")
    p.add_argument("dir", help="folder to make match")
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
        description="Remove least-recently-used files until the cache holds at most TARGET.",
    )
    p.add_argument("--target-size", default="10GB", help="size to shrink to (default 10GB)")
    p.add_argument("--dry-run", action="store_true", help="only report what would go")
    add_json_flag(p)
    p.set_defaults(func=cmd_cache_cleanup)
    p = csub.add_parser("info", help="where the cache is and how big", description="Cache info.")
    add_json_flag(p)
    p.set_defaults(func=cmd_cache_info)


def _describe(art: Artifact) -> dict[str, Any]:
    return {
        "name": art.name,
        "qualified_name": art.qualified_name,
        "version": art.version,
        "type": art.type,
        "digest": art.digest,
        "size": art.size,
        "file_count": art.file_count,
        "aliases": art.aliases,
        "tags": art.tags,
        "description": art.description,
        "metadata": art.metadata,
        "created_at": art.created_at.isoformat(),
        "created_by": art.created_by,
        "based_on": art.based_on,
        "id": art.id,
    }


def cmd_put(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel put``."""
    try:
        metadata = json.loads(args.metadata) if args.metadata else None
    except json.JSONDecodeError as exc:
        raise InvalidMetadataError(f"--metadata is not valid JSON: {exc}") from exc
    art = Artifact(
        args.name, args.type, description=args.description, metadata=metadata,
        services=ctx.api.services,
    )
    if os.path.isdir(args.path):
        art.add_dir(args.path, policy=args.policy)
    elif os.path.isfile(args.path):
        art.add_file(args.path, policy=args.policy)
    else:
        raise SourceFileNotFoundError(f"{args.path} is neither a file nor a folder")
    before = ctx.api.store.latest(ctx.api.project, args.name) if ctx.api.artifact_exists(args.name) else None
    art.save(ctx.api.project, aliases=args.alias, tags=args.tag)
    created = before is None or before.version != art.version_index
    if args.json:
        ctx.json({**_describe(art), "created": created})
    elif created:
        ctx.print(f"committed {art.qualified_name}: {art.file_count} files, {art.size} bytes, "
                  f"digest {art.digest}")
    else:
        ctx.print(f"unchanged: {art.qualified_name} already holds this content "
                  f"(digest {art.digest})")
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
        args.root, path_prefix=prefix,
        allow_missing_references=args.allow_missing_references,
    )
    if args.json:
        ctx.json({"name": art.qualified_name, "root": root})
    else:
        ctx.print(root)
    return 0


def cmd_checkout(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel checkout``."""
    art = ctx.api.artifact(args.ref)
    root = art.checkout(args.dir)
    if args.json:
        ctx.json({"name": art.qualified_name, "root": root})
    else:
        ctx.print(f"{root} now matches {art.qualified_name}")
    return 0


def cmd_verify(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel verify``: exit 1 and list problems on mismatch."""
    art = ctx.api.artifact(args.ref)
    try:
        report = art.verify(args.dir)
    except ArtifactVerificationError as exc:
        if args.json:
            ctx.json({"ok": False, "missing": exc.missing, "extra": exc.extra,
                      "changed": exc.changed, "unverifiable": exc.unverifiable})
            return 1
        raise
    if args.json:
        ctx.json({"ok": True, "verified": report.verified, "unverifiable": list(report.unverifiable)})
    else:
        ctx.print(f"ok: {args.dir} matches {art.qualified_name} ({report.verified} files verified)")
        for path in report.unverifiable:
            ctx.print(f"  not verifiable (reference without content hash): {path}")
    return 0


def cmd_show(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel show``."""
    art = ctx.api.artifact(args.ref)
    manifest = art.manifest  # loading it checks the record's digest against it
    info = _describe(art)
    if args.files:
        info["files"] = [
            {"path": e.path, "digest": e.digest, "size": e.size, "ref": e.ref}
            for e in manifest
        ]
    if args.json:
        ctx.json(info)
        return 0
    for key in ("qualified_name", "type", "digest", "size", "file_count", "aliases", "tags",
                "description", "created_at", "created_by", "based_on"):
        value = info[key]
        if isinstance(value, list):
            value = ", ".join(value) or "-"
        ctx.print(f"{key:15} {value if value is not None else '-'}")
    if art.metadata:
        ctx.print(f"{'metadata':15} {json.dumps(art.metadata, sort_keys=True)}")
    for f in info.get("files", []):
        ref = f"  -> {f['ref']}" if f["ref"] else ""
        ctx.print(f"  {f['path']}  {f['size'] if f['size'] is not None else '?'}  {f['digest']}{ref}")
    return 0


def cmd_cache_cleanup(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel cache cleanup``."""
    result = ctx.api.services.cache.cleanup(parse_size(args.target_size), dry_run=args.dry_run)
    if args.json:
        ctx.json({"removed_files": result.removed_files, "freed_bytes": result.freed_bytes,
                  "remaining_bytes": result.remaining_bytes, "dry_run": args.dry_run})
    else:
        verb = "would remove" if args.dry_run else "removed"
        ctx.print(f"{verb} {result.removed_files} files, {result.freed_bytes} bytes; "
                  f"{result.remaining_bytes} bytes remain in {ctx.api.services.cache.root}")
    return 0


def cmd_cache_info(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel cache info``."""
    cache = ctx.api.services.cache
    size = cache.size()
    if args.json:
        ctx.json({"root": cache.root, "bytes": size})
    else:
        ctx.print(f"{cache.root}: {size} bytes")
    return 0
