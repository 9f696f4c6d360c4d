"""Registry commands: ``ls``, ``diff``, ``alias``, ``tag``, ``stage``, ``lineage``, ``delete``,
``gc``, ``copy``, ``link``, ``unlink``, ``apply``, ``import-wandb``.

Each is a thin layer over :class:`~satchel.api.Api` and :mod:`satchel.registry`; every command
that prints data takes ``--json``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from satchel.artifact import Artifact
from satchel.cli.context import CliContext, add_json_flag
from satchel.cli.views import human_size, printable, version_json
from satchel.errors import ArtifactNotFoundError, InvalidQueryError
from satchel.manifest import ManifestEntry
from satchel.registry.query import MAX_PAGE_SIZE, SORT_KEYS
from satchel.registry.stages import STAGES
from satchel.store import layout

_REF = "NAME, NAME:v3, NAME:alias or PROJECT/NAME:alias"


def register(sub: Any) -> None:
    """Add the registry commands to the ``satchel`` parser."""
    _register_ls(sub)

    p = sub.add_parser(
        "diff",
        help="what changed between two versions",
        description="Show entries added, removed and modified from REF_A to REF_B, with sizes.",
    )
    p.add_argument("ref_a", help=f"older version ({_REF})")
    p.add_argument("ref_b", help="newer version")
    add_json_flag(p)
    p.set_defaults(func=cmd_diff)

    for noun, what in (("alias", "aliases"), ("tag", "tags")):
        group = sub.add_parser(noun, help=f"add or remove {what}", description=f"Edit {what}.")
        gsub = group.add_subparsers(dest=f"{noun}_action", metavar="ACTION")
        gsub.required = True
        p = gsub.add_parser(
            "add",
            help=f"add {what} to a version",
            description=f"Add {what} to a version"
            + (" (moving each alias from wherever it pointed)." if noun == "alias" else "."),
        )
        p.add_argument("ref", help=_REF)
        p.add_argument("names", nargs="+", metavar=noun.upper())
        add_json_flag(p)
        p.set_defaults(func=cmd_alias_add if noun == "alias" else cmd_tag_add)
        p = gsub.add_parser("rm", help=f"remove {what}", description=f"Remove {what}.")
        p.add_argument("ref", help="[PROJECT/]NAME" if noun == "alias" else _REF)
        p.add_argument("names", nargs="+", metavar=noun.upper())
        add_json_flag(p)
        p.set_defaults(func=cmd_alias_rm if noun == "alias" else cmd_tag_rm)

    p = sub.add_parser(
        "stage",
        help="move a version to a stage",
        description=f"Move a version to a stage ({', '.join(STAGES)}); the change is kept in "
        "the version's stage history.",
    )
    p.add_argument("ref", help=_REF)
    p.add_argument("stage", choices=STAGES)
    p.add_argument("--reason", help="short reason, kept in the history")
    p.add_argument("--message", help="longer message, kept in the history")
    add_json_flag(p)
    p.set_defaults(func=cmd_stage)

    p = sub.add_parser(
        "lineage",
        help="runs and versions upstream and downstream of a version",
        description="Print which run logged the version and what it used (upstream), and which "
        "runs used it and what they logged (downstream).",
    )
    p.add_argument("ref", help=_REF)
    p.add_argument("--depth", type=int, default=1, help="run hops to follow each way (default 1)")
    p.add_argument(
        "--format",
        choices=("text", "dot", "json"),
        default="text",
        help="text (default), dot (Graphviz) or json",
    )
    add_json_flag(p)
    p.set_defaults(func=cmd_lineage)

    p = sub.add_parser(
        "delete",
        help="delete a version",
        description="Delete a version: it vanishes from latest, listings and look-ups and its "
        "number is never reused. Aliases block deletion unless --delete-aliases. Run "
        "'satchel gc' to free the content.",
    )
    p.add_argument("ref", help=_REF)
    p.add_argument("--delete-aliases", action="store_true", help="also remove its aliases")
    add_json_flag(p)
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser(
        "gc",
        help="delete expired versions and unused content",
        description="Delete versions whose TTL ran out (unless an alias names them), then "
        "manifests and objects no live version uses that are older than the grace period. "
        "Content that commits in flight upload or rely on is kept whatever the grace (they "
        "hold leases); the grace protects writers without one, and may not be shorter than "
        "1h without --force. It also removes what killed writers left (old leases; on a "
        "local store temporary files, once older than the grace period). On a damaged "
        "store it keeps whatever a record or manifest it cannot read might name, lists those "
        "files and exits 1 ('satchel fsck --repair').",
    )
    p.add_argument("--dry-run", action="store_true", help="only report what would go")
    p.add_argument(
        "--grace",
        default="1h",
        help="minimum age of content to remove (default and safe minimum 1h)",
    )
    p.add_argument(
        "--force", action="store_true", help="accept a grace shorter than the safe minimum of 1h"
    )
    add_json_flag(p)
    p.set_defaults(func=cmd_gc)

    p = sub.add_parser(
        "copy",
        help="copy a version to another project, name or store",
        description="Copy a version (no upload within one store; objects are transferred "
        "across stores). With --move the original is deleted afterwards (a transfer).",
    )
    p.add_argument("ref", help=_REF)
    p.add_argument("dest", help="PROJECT or PROJECT/NAME")
    p.add_argument("--to-store", help="target store URL (default: the same store)")
    p.add_argument("--alias", action="append", default=[], help="alias for the copy")
    p.add_argument("--move", action="store_true", help="delete the original (transfer)")
    add_json_flag(p)
    p.set_defaults(func=cmd_copy)

    p = sub.add_parser(
        "link",
        help="link a version into a portfolio",
        description="Add a version to another collection (a portfolio) without copying.",
    )
    p.add_argument("ref", help=_REF)
    p.add_argument("target", help="PORTFOLIO or PROJECT/PORTFOLIO")
    p.add_argument("--alias", action="append", default=[], help="portfolio alias (repeatable)")
    add_json_flag(p)
    p.set_defaults(func=cmd_link)

    p = sub.add_parser(
        "unlink",
        help="remove a linked version from its portfolio",
        description="Remove a linked version from its portfolio; the source version stays.",
    )
    p.add_argument("ref", help="PORTFOLIO:vN or PORTFOLIO:alias")
    add_json_flag(p)
    p.set_defaults(func=cmd_unlink)

    p = sub.add_parser(
        "apply",
        help="create or update versions from a spec file",
        description="Apply a YAML or JSON spec (name, type, source, ...). Idempotent: the same "
        "spec twice creates one version; changing only metadata, tags or aliases updates it.",
    )
    p.add_argument("-f", "--file", required=True, help="spec file (.yaml, .yml or .json)")
    add_json_flag(p)
    p.set_defaults(func=cmd_apply)

    p = sub.add_parser(
        "import-wandb",
        help="register a W&B manifest as a version",
        description="Commit the entries of a W&B wandb_manifest.json: references stay "
        "references; stored files are taken from --root folders (checked against W&B's "
        "digests) or referenced under --root URI prefixes.",
    )
    p.add_argument("manifest", help="path to wandb_manifest.json")
    p.add_argument("--name", required=True, help="artifact name")
    p.add_argument("--type", required=True, help="artifact type")
    p.add_argument(
        "--root",
        action="append",
        default=[],
        help="folder or URI prefix holding the stored files (repeatable, in order)",
    )
    p.add_argument("--alias", action="append", default=[], help="alias to set (repeatable)")
    p.add_argument("--tag", action="append", default=[], help="tag to add (repeatable)")
    p.add_argument("--description", help="description of the version")
    add_json_flag(p)
    p.set_defaults(func=cmd_import_wandb)


def _register_ls(sub: Any) -> None:
    p = sub.add_parser(
        "ls",
        help="list versions (filters, sorting, pages)",
        description="List live versions of one artifact, or of every artifact in the project. "
        "Filters combine with AND (--or: OR).",
    )
    p.add_argument("name", nargs="?", help="artifact name or PROJECT/NAME (default: all)")
    p.add_argument("--collections", action="store_true", help="list artifacts, not versions")
    p.add_argument("--types", action="store_true", help="list the artifact types in use")
    p.add_argument("--type", help="artifact type")
    p.add_argument("--tag", action="append", default=[], help="has this tag (repeat: all of them)")
    p.add_argument("--alias", help="named by this alias (latest included)")
    p.add_argument("--stage", choices=STAGES, help="in this stage")
    p.add_argument("--version", help="this version, e.g. v3")
    p.add_argument("--digest", help="with this artifact digest")
    p.add_argument("--created-after", help="ISO 8601 time, e.g. 2024-05-01 or 2024-05-01T12:00Z")
    p.add_argument("--created-before", help="ISO 8601 time")
    p.add_argument("--updated-after", help="ISO 8601 time")
    p.add_argument("--updated-before", help="ISO 8601 time")
    p.add_argument(
        "--metadata",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="top-level metadata match; VALUE is JSON when it parses (repeatable)",
    )
    p.add_argument("--produced-by", metavar="RUN", help="logged by this run id")
    p.add_argument("--used-by", metavar="RUN", help="used by this run id ([PROJECT/]RUN_ID)")
    p.add_argument("--only-unused", action="store_true", help="used by no run")
    p.add_argument(
        "--or",
        dest="logical_or",
        action="store_true",
        help="combine the filters with OR instead of AND",
    )
    p.add_argument(
        "--sort",
        default="-created",
        help=f"{', '.join(SORT_KEYS)}; prefix - for descending (default -created)",
    )
    p.add_argument("--page", type=int, default=1, help="page number (default 1)")
    p.add_argument(
        "--size", type=int, default=20, help=f"versions per page, 1..{MAX_PAGE_SIZE} (default 20)"
    )
    add_json_flag(p)
    p.set_defaults(func=cmd_ls)


# -- helpers ---------------------------------------------------------------------------------
def _metadata_filter(items: list[str]) -> dict[str, Any] | None:
    if not items:
        return None
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InvalidQueryError(f"--metadata {item!r} is not KEY=VALUE")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


# -- commands --------------------------------------------------------------------------------
def cmd_ls(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel ls``."""
    api = ctx.api
    if args.types:
        types = api.artifact_types()
        if args.json:
            ctx.json(types)
        else:
            for t in types:
                ctx.print(t)
        return 0
    if args.collections:
        cols = api.artifact_collections(type=args.type)
        if args.json:
            ctx.json([{**c.__dict__, "created_at": c.created_at.isoformat()} for c in cols])
            return 0
        for c in cols:
            aliases = ", ".join(f"{a}->{v}" for a, v in c.aliases.items()) or "-"
            kind = " (portfolio)" if c.is_portfolio else ""
            ctx.print(
                f"{c.project}/{c.name}  {c.type}{kind}  {c.version_count} version(s), "
                f"latest {c.latest}  aliases: {aliases}"
            )
        if not cols:
            ctx.print(f"no artifacts in project {api.project}")
        return 0
    if args.name:
        project, _, name = args.name.rpartition("/")
        if api.store.collection(project or api.project, name) is None:
            if api.store.version_listing(project or api.project, name).committed:
                # versions without their collection record: name the record, not "no artifact"
                key = layout.collection_key(project or api.project, name)
                raise ArtifactNotFoundError(
                    f"{project or api.project}/{name} has versions but its collection record "
                    f"{key} is missing, so listings skip it; run 'satchel fsck --repair' to "
                    "write it again"
                )
            raise ArtifactNotFoundError(
                f"no artifact named {name!r} in project {project or api.project!r}; see "
                "'satchel ls --collections'"
            )
    page = api.artifact_versions(
        args.name,
        type=args.type,
        tags=args.tag or None,
        alias=args.alias,
        stage=args.stage,
        version=args.version,
        digest=args.digest,
        created_after=args.created_after,
        created_before=args.created_before,
        updated_after=args.updated_after,
        updated_before=args.updated_before,
        metadata=_metadata_filter(args.metadata),
        produced_by=args.produced_by,
        used_by=args.used_by,
        only_unused=args.only_unused,
        logical_operator="or" if args.logical_or else "and",
        sort_by=args.sort,
        page=args.page,
        size=args.size,
    )
    if args.json:
        ctx.json(
            {
                "items": [version_json(a) for a in page],
                "index": page.index,
                "max_size": page.max_size,
                "total": page.total,
                "total_pages": page.total_pages,
            }
        )
        return 0
    for a in page:
        stage = f"  [{a.stage}]" if a.stage else ""
        aliases = ",".join(a.aliases)
        tags = ("  #" + " #".join(a.tags)) if a.tags else ""
        ctx.print(
            f"{a.qualified_name}  {a.type}  {human_size(a.size)}  {a.file_count} file(s)  "
            f"{a.created_at:%Y-%m-%d %H:%M}  {aliases}{stage}{tags}"
        )
    ctx.print(f"page {page.index}/{page.total_pages}, {page.total} version(s)")
    return 0


def _entry(e: ManifestEntry) -> dict[str, Any]:
    return {"path": e.path, "size": e.size, "digest": e.digest, "ref": e.ref}


def cmd_diff(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel diff``."""
    d = ctx.api.diff(args.ref_a, args.ref_b)
    if args.json:
        ctx.json(
            {
                "added": [_entry(e) for e in d.added],
                "removed": [_entry(e) for e in d.removed],
                "modified": [
                    {"path": new.path, "old": _entry(old), "new": _entry(new)}
                    for old, new in d.modified
                ],
            }
        )
        return 0
    for e in d.added:
        ctx.print(f"+ {printable(e.path)}  ({human_size(e.size)})")
    for e in d.removed:
        ctx.print(f"- {printable(e.path)}  ({human_size(e.size)})")
    for old, new in d.modified:
        ctx.print(f"M {printable(new.path)}  ({human_size(old.size)} -> {human_size(new.size)})")
    ctx.print(f"{len(d.added)} added, {len(d.removed)} removed, {len(d.modified)} modified")
    return 0


def _report(ctx: CliContext, args: argparse.Namespace, art: Artifact, text: str) -> int:
    if args.json:
        ctx.json(version_json(art))
    else:
        ctx.print(text)
    return 0


def cmd_alias_add(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel alias add``: refuses ``latest`` and version-like names (they would be
    ignored or are reserved) before changing anything."""
    from satchel import naming

    for name in args.names:
        naming.validate_alias(name)
    art = ctx.api.artifact(args.ref)
    art.aliases = [*art.aliases, *args.names]
    art.save()
    return _report(ctx, args, art, f"{art.qualified_name} aliases: {', '.join(art.aliases)}")


def cmd_alias_rm(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel alias rm``: removes each alias wherever it points."""
    from satchel import naming

    ref = naming.parse_ref(args.ref, project=ctx.api.project, hidden_ok=True)
    if ref.selector != naming.LATEST:
        raise InvalidQueryError(
            f"alias rm takes the artifact name, not a version ({args.ref!r}); e.g. "
            f"'satchel alias rm {ref.name} {' '.join(args.names)}'"
        )
    assert ref.project is not None
    store = ctx.api.store
    removed, absent = [], []
    for alias in args.names:
        if store.alias_target(ref.project, ref.name, alias) is None:
            absent.append(alias)
        else:
            store.remove_alias(ref.project, ref.name, alias)
            removed.append(alias)
    if absent and not removed:
        raise InvalidQueryError(
            f"{ref.project}/{ref.name} has no alias {', '.join(absent)}; see "
            f"'satchel ls {ref.name}'"
        )
    if args.json:
        ctx.json({"removed": removed, "absent": absent})
    else:
        ctx.print(
            f"removed alias(es) {', '.join(removed)} from {ref.project}/{ref.name}"
            + (f"; not found: {', '.join(absent)}" if absent else "")
        )
    return 0


def cmd_tag_add(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel tag add``."""
    art = ctx.api.update_artifact_version(args.ref, add_tags=args.names)
    return _report(ctx, args, art, f"{art.qualified_name} tags: {', '.join(art.tags) or '-'}")


def cmd_tag_rm(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel tag rm``."""
    art = ctx.api.update_artifact_version(args.ref, remove_tags=args.names)
    return _report(ctx, args, art, f"{art.qualified_name} tags: {', '.join(art.tags) or '-'}")


def cmd_stage(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel stage``."""
    art = ctx.api.stage_artifact_version(
        args.ref, args.stage, reason=args.reason, message=args.message
    )
    if args.json:
        ctx.json(
            {
                **version_json(art),
                "stage_history": [
                    {
                        "from": e.from_stage,
                        "to": e.to_stage,
                        "at": e.at.isoformat(),
                        "by": e.by,
                        "reason": e.reason,
                        "message": e.message,
                    }
                    for e in art.stage_history
                ],
            }
        )
    else:
        ctx.print(f"{art.qualified_name} is now in stage {art.stage}")
    return 0


def cmd_lineage(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel lineage``."""
    from satchel.registry.lineage import build_graph, to_dot, to_text

    record = ctx.api._record(args.ref)
    graph = build_graph(ctx.api.store, record, depth=args.depth)
    if args.json or args.format == "json":
        ctx.json(graph.to_dict())
    elif args.format == "dot":
        ctx.out.write(to_dot(graph))
    else:
        ctx.out.write(to_text(graph))
    return 0


def cmd_delete(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel delete``."""
    art = ctx.api.artifact(args.ref)
    name = art.qualified_name
    aliases = [a for a in art.aliases if a != "latest"]
    art.delete(delete_aliases=args.delete_aliases)
    if args.json:
        ctx.json({"deleted": name, "aliases_removed": aliases})
    else:
        extra = f" and its alias(es) {', '.join(aliases)}" if aliases else ""
        ctx.print(f"deleted {name}{extra}; run 'satchel gc' to free its content")
    return 0


def cmd_gc(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel gc``."""
    from satchel.registry.gc import collect_garbage

    verb = "would remove" if args.dry_run else "removed"

    def show(kind: str, name: str, size: int) -> None:
        if args.json:
            return
        if kind == "expired":
            ctx.print(f"{'would delete' if args.dry_run else 'deleted'} expired version {name}")
        elif kind == "young":  # unreferenced, but not removed: apart from what goes
            what = "manifest" if name.startswith("manifests/") else "object"
            ctx.print(f"kept {what} {name} ({human_size(size)}): younger than {args.grace}")
        else:
            ctx.print(f"{verb} {kind} {name} ({human_size(size)})")

    report = collect_garbage(
        ctx.api.store, grace=args.grace, dry_run=args.dry_run, force=args.force, on_item=show
    )
    if args.json:
        ctx.json(report.to_dict())
    else:
        ctx.print(
            f"{verb} {len(report.manifests)} manifest(s) and {len(report.objects)} object(s), "
            f"{'would free' if args.dry_run else 'freed'} {human_size(report.bytes_freed)} "
            f"({report.bytes_freed} bytes); {len(report.expired)} expired version(s); "
            f"{report.kept_young} unreferenced item(s) kept as younger than {args.grace}"
            + (
                f"; {len(report.temporaries)} temporary file(s) of interrupted writers cleaned up"
                if report.temporaries
                else ""
            )
            + (
                f"; kept what {report.in_flight} commit(s) in flight write or use"
                if report.in_flight
                else ""
            )
        )
        if report.unreadable:
            ctx.print(
                f"kept {report.kept_unreadable} unreferenced item(s) that these unreadable "
                "files might name (run 'satchel fsck', then 'satchel fsck --repair'):"
            )
            for line in report.unreadable:
                ctx.print(f"  {line}")
    return 1 if report.unreadable else 0


def cmd_copy(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel copy``."""
    project, _, name = args.dest.partition("/")
    kwargs: dict[str, Any] = {"project": project, "name": name or None, "store": args.to_store}
    if args.move:
        if args.alias:
            raise InvalidQueryError("--alias cannot be combined with --move (aliases move along)")
        art = ctx.api.transfer_artifact_version(args.ref, **kwargs)
        verb = "moved"
    else:
        art = ctx.api.copy_artifact_version(args.ref, aliases=args.alias, **kwargs)
        verb = "copied"
    where = f" in {args.to_store}" if args.to_store else ""
    return _report(ctx, args, art, f"{verb} {args.ref} to {art.qualified_name}{where}")


def cmd_link(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel link``."""
    art = ctx.api.artifact(args.ref)
    link = art.link(args.target, aliases=args.alias)
    return _report(ctx, args, link, f"linked {art.qualified_name} as {link.qualified_name}")


def cmd_unlink(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel unlink``."""
    art = ctx.api.artifact(args.ref)
    name = art.qualified_name
    art.unlink()
    if args.json:
        ctx.json({"unlinked": name})
    else:
        ctx.print(f"unlinked {name}")
    return 0


def cmd_apply(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel apply -f``."""
    from satchel.apply import apply_file

    results = apply_file(ctx.api.services, args.file, default_project=ctx.api.project)
    if args.json:
        ctx.json([{"action": r.action, **version_json(r.artifact)} for r in results])
    else:
        for r in results:
            ctx.print(f"{r.action}: {r.artifact.qualified_name}")
    return 0


def cmd_import_wandb(args: argparse.Namespace, ctx: CliContext) -> int:
    """``satchel import-wandb``."""
    from satchel.wandb_import import build_from_wandb

    art = build_from_wandb(
        ctx.api.services,
        args.manifest,
        name=args.name,
        type=args.type,
        roots=args.root,
        description=args.description,
    )
    art.save(ctx.api.project, aliases=args.alias, tags=args.tag)
    return _report(
        ctx,
        args,
        art,
        f"imported {args.manifest} as {art.qualified_name}: "
        f"{art.file_count} file(s), {human_size(art.size)}, digest {art.digest}",
    )
