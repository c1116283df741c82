"""``llmctl get KIND[,KIND...] [NAME] [-n NS | -A] [-l SELECTOR] [-o table|wide|json|yaml|name]``: any resource
the server serves, as ``kubectl get`` prints it — the server's own columns, kubectl's spacing, its wording for
"nothing found" — for built-ins and CRDs alike. KIND is a plural, singular, short name, k9s alias or
``plural.group``; ``KIND/NAME`` works too, and a category (``all``) names every type in it.

Exit codes: 0 shown (also when nothing matched), 1 the API refused or failed (unknown type, not found,
forbidden, unreachable), 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from console.cli.common import EXIT_FAILED, EXIT_OK, columns, dump, fail

if TYPE_CHECKING:
    from console.config import Settings
    from console.kube.discovery import Catalog, Resource
    from console.kube.transport import KubeTransport

COMMAND = "get"
OUTPUTS = ("table", "wide", "json", "yaml", "name")
TABWRITER_MIN_WIDTH = 6  # kubectl: tabwriter.NewWriter(out, 6, 4, 3, ' ', 0)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    get = sub.add_parser(COMMAND, parents=[common], help="any resource type, as kubectl get shows it",
                         description=__doc__.split("\n\n")[0])
    get.add_argument("kind", metavar="KIND", help="pods, deploy, svc, hpa, nodes, events, a CRD's plural, "
                                                  "deployments.apps, KIND/NAME, a comma list, or 'all'")
    get.add_argument("name", metavar="NAME", nargs="?", help="one object")
    get.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    get.add_argument("-l", "--selector", help="label selector, e.g. app=claude-inference")
    get.add_argument("--field-selector", help="field selector, e.g. status.phase=Running")
    get.add_argument("-o", "--output", choices=OUTPUTS, default="table")
    get.add_argument("--show-managed-fields", action="store_true",
                     help="keep metadata.managedFields in -o json|yaml (hidden by default, as kubectl does)")
    get.set_defaults(func=run, validate=problem)


def _printable(text: str) -> bool:
    return bool(text) and text.isascii() and text.isprintable() and not any(c.isspace() for c in text)


def problem(args: argparse.Namespace) -> str | None:
    kind, _, slash_name = args.kind.partition("/")
    if slash_name and args.name:
        return f"give the name once: {args.kind} or {kind} {args.name}"
    words = kind.split(",")
    if not all(_printable(w) for w in words):
        return f"not a resource type: {args.kind!r}"
    name = slash_name or args.name
    if name is not None and (not _printable(name) or "/" in name):
        return f"not an object name: {name!r}"
    if name and len(words) > 1:
        return "a name can be given with one resource type only"
    if name and args.all_namespaces:
        return "a name cannot be given with --all-namespaces"
    args.kinds, args.object_name = words, name
    return None


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from console import wiring

    with wiring.session(settings) as services:
        return asyncio.run(_get(services.access, args, settings.namespace))


async def _get(access: Any, args: argparse.Namespace, namespace: str | None) -> int:
    from console.kube.discovery import discover
    from console.kube.errors import KubeError

    transport: KubeTransport | None = None
    try:
        target, transport = await access.connect()
        catalog = await discover(transport)
        resources = _resolve(catalog, args.kinds)
        ns = None if args.all_namespaces else (namespace or target.namespace or "default")
        for gv, why in catalog.failed.items():
            if any(r.api_version == gv for r in resources):
                print(f"llmctl get: couldn't get resource list for {gv}: {why}", file=sys.stderr)
        return await _show(transport, resources, ns, args)
    except KubeError as exc:
        return fail("llmctl get", exc.message)
    finally:
        if transport is not None:
            await transport.close()


def _resolve(catalog: Catalog, words: list[str]) -> list[Resource]:
    out: list[Resource] = []
    for word in words:
        in_category = [r for r in catalog.listable() if word.lower() in r.categories]
        for r in in_category or [catalog.find(word)]:
            if r not in out:
                out.append(r)
    return out


async def _show(transport: KubeTransport, resources: list[Resource], ns: str | None,
                args: argparse.Namespace) -> int:
    from console.kube import tables

    many = len(resources) > 1
    shown = 0
    if args.output in ("json", "yaml", "name"):
        objects: list[dict[str, Any]] = []
        for r in resources:
            found = await tables.fetch_objects(transport, r, ns if r.namespaced else None, args.object_name,
                                               args.selector, args.field_selector)
            if args.output == "name":
                for line in tables.object_names(r, found):
                    print(line)
            objects += found
        if not args.show_managed_fields:
            for obj in objects:
                (obj.get("metadata") or {}).pop("managedFields", None)
        shown = len(objects)
        if args.output != "name":
            document = objects[0] if args.object_name else tables.as_list(objects)
            print(dump(document, args.output, indent=4, sort_keys=True))  # kubectl's layout
    else:
        blocks = []
        for r in resources:
            table = await tables.fetch_table(transport, r, ns if r.namespaced else None, args.object_name,
                                             args.selector, args.field_selector)
            if not table.rows:
                continue
            shown += len(table.rows)
            wide, with_ns = args.output == "wide", ns is None and r.namespaced
            rows = [table.cells(row, wide, with_ns) for row in table.rows]
            if many:  # kubectl names each row by its type when it shows several
                at = 1 if with_ns else 0
                rows = [[*row[:at], f"{r.name_prefix}/{row[at]}", *row[at + 1:]] for row in rows]
            blocks.append(columns(table.header(wide, with_ns), rows, TABWRITER_MIN_WIDTH))
        if blocks:
            print("\n\n".join(blocks))
    if not shown and not args.object_name:
        where = f" in {ns} namespace" if ns and any(r.namespaced for r in resources) else ""
        print(f"No resources found{where}.", file=sys.stderr)
    return EXIT_OK if shown or not args.object_name else EXIT_FAILED
