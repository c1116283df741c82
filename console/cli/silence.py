"""``llmctl silence list|create|expire``: Alertmanager silences, headless (over services/alertmanager.py).

    llmctl silence list [--all] [-o json]
    llmctl silence create --matcher NAME=VALUE [--matcher ...] --duration 2h --comment TEXT [--author NAME]
    llmctl silence create --alert ALERTNAME [--matcher ...] --duration 2h --comment TEXT
    llmctl silence expire ID

``--alert`` prefills the matchers from a firing alert in Alertmanager (alertname + its identifying labels);
extra ``--matcher``s pick one alert among several of that name and are added to the silence. ``create``
prints the new silence's id on stdout. Every create and expire, and every refused one, is audited.

Exit codes: 0 done, 1 refused or failed (Alertmanager unreachable, no such silence or alert, read-only,
the audit log unwritable), 2 usage or validation error (bad matcher, duration, missing comment, no
Alertmanager configured).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from console.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, OUTPUTS, STRUCTURED, columns, dump

if TYPE_CHECKING:
    from console.alerts.alertmanager import AlertmanagerClient, AlertmanagerError, Silence
    from console.config import Settings

COMMAND = "silence"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("-o", "--output", choices=OUTPUTS, default="table")
    change = argparse.ArgumentParser(add_help=False)
    change.add_argument("--author", default=None, help="who silences (default: $USER)")
    change.add_argument("--audit-log", metavar="PATH",
                        help="audit log file (default: $XDG_STATE_HOME/llmctl/audit.jsonl)")

    p = sub.add_parser(COMMAND, help="Alertmanager silences: list, create, expire (needs --alertmanager URL)")
    verbs = p.add_subparsers(dest="silence_command", metavar="list|create|expire", required=True)
    ls = verbs.add_parser("list", parents=[common, out], help="silences: active and pending (--all: also expired)")
    ls.add_argument("--all", action="store_true", help="also expired silences")
    ls.set_defaults(func=run, verb=_list)
    create = verbs.add_parser("create", parents=[common, out, change], help="silence alerts for a while")
    create.add_argument("--matcher", "-m", action="append", default=[], metavar="NAME=VALUE",
                        help="label matcher: name=value, name!=value, name=~regex, name!~regex (repeatable)")
    create.add_argument("--alert", metavar="ALERTNAME",
                        help="prefill the matchers from this firing alert in Alertmanager")
    create.add_argument("--duration", "-d", required=True, help="how long: 90s, 30m, 2h, 1d (at most 30d)")
    create.add_argument("--comment", "-c", required=True, help="why (a ticket, what is being done)")
    create.set_defaults(func=run, verb=_create)
    expire = verbs.add_parser("expire", parents=[common, out, change], help="end a silence now")
    expire.add_argument("id", help="the silence's id (llmctl silence list)")
    expire.set_defaults(func=run, verb=_expire)


def _fail(message: str, code: int) -> int:
    print(f"llmctl silence: {message}", file=sys.stderr)
    return code


def _code(exc: AlertmanagerError) -> int:
    return EXIT_USAGE if exc.kind == "invalid" else EXIT_FAILED


def _author(args: argparse.Namespace) -> str:
    if args.author:
        return str(args.author)
    return os.environ.get("USER") or os.environ.get("LOGNAME") or "unknown"


def run(args: argparse.Namespace, settings: Settings) -> int:
    from console import wiring
    from console.alerts.alertmanager import AlertmanagerError

    services = wiring.build(settings)
    client = services.alertmanager
    if client is None:
        return _fail("no Alertmanager configured: give --alertmanager URL (or LLMCTL_ALERTMANAGER_URL, or "
                     "alertmanager_url in the config)", EXIT_USAGE)
    try:
        return int(args.verb(client, args))
    except AlertmanagerError as exc:
        return _fail(str(exc), _code(exc))


def _list(client: AlertmanagerClient, args: argparse.Namespace) -> int:
    silences = [s for s in client.silences() if args.all or s.state != "expired"]
    if args.output in STRUCTURED:
        print(dump({"alertmanager": client.where, "silences": [s.to_json() for s in silences]}, args.output))
    elif silences:
        print(format_table(silences))
    else:
        print("no silences" if args.all else "no active or pending silences")
    return EXIT_OK


def _create(client: AlertmanagerClient, args: argparse.Namespace) -> int:
    from console.alerts.alertmanager import AlertmanagerError

    sid = client.create_silence(args.matcher, args.duration, args.comment, _author(args), alert=args.alert)
    try:
        silence: Silence | None = client.silence(sid)
    except AlertmanagerError:
        silence = None  # created; only the read-back failed
    if args.output in STRUCTURED:
        print(dump({"id": sid, "silence": silence.to_json() if silence else None}, args.output))
    else:
        print(sid)
        if silence is not None:
            print(f"silenced {{{', '.join(str(m) for m in silence.matchers)}}} until "
                  f"{silence.ends_at.isoformat() if silence.ends_at else '?'}", file=sys.stderr)
    return EXIT_OK


def _expire(client: AlertmanagerClient, args: argparse.Namespace) -> int:
    before = client.expire_silence(args.id, _author(args))
    if args.output in STRUCTURED:
        print(dump({"id": before.id, "expired": True, "silence": before.to_json()}, args.output))
    else:
        print(f"silence {before.id} expired")
    return EXIT_OK


def _relative(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "-"
    seconds = int((at - now).total_seconds())
    sign, seconds = ("" if seconds >= 0 else "-"), abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{sign}{seconds // size}{unit}"
    return f"{sign}{seconds}s"


def format_table(silences: list[Silence], now: datetime | None = None) -> str:
    """``ID STATE ENDS-IN CREATED-BY MATCHERS COMMENT``; ENDS-IN is negative for expired silences."""
    now = now or datetime.now(UTC)
    return columns(("ID", "STATE", "ENDS-IN", "CREATED-BY", "MATCHERS", "COMMENT"),
                   ((s.id, s.state, _relative(s.ends_at, now), s.created_by[:12], ",".join(str(m) for m in s.matchers),
                     s.comment) for s in silences))
