"""The incident timeline: one ordered list of what happened to a namespace or a Deployment in the last N
minutes, built from raw Kubernetes JSON, audit-log entries and alerts. Pure functions, no I/O (the
collector in :mod:`console.incident.service` reads the inputs).

Entry kinds and where they come from:

- ``alert-start`` / ``alert-end``: alert records (``since``), resolved alerts the caller knows of, and the
  start/end of each firing series of a Prometheus ``ALERTS{alertstate="firing"}`` range query;
- ``event``: Warning events about the objects in scope, with count and first/last time;
- ``restart`` / ``oomkill``: a container's last termination (``lastState.terminated``) in the pods' status;
- ``rollout``: a revision change (ReplicaSets' ``deployment.kubernetes.io/revision`` and
  ``revision-history``, ``creationTimestamp``), with the old → new images;
- ``scale``: the HPA's ``SuccessfulRescale`` events, the deployment controller's ``ScalingReplicaSet``
  events that are not steps of a rollout, and applied ``llmctl scale`` audit entries;
- ``audit``: every audit-log entry about the namespace / Deployment (dry-runs and refusals included).

The same fact seen from two sources becomes one entry (the others' facts go into its ``detail``):

- a ``ScalingReplicaSet`` event within a rollout (from the revision change until an older ReplicaSet
  is scaled down to 0) is a step of that rollout, listed in the rollout's ``detail["steps"]``;
- a ``ScalingReplicaSet`` event right after an HPA rescale is the HPA's doing: ``detail["replicasets"]``
  of the HPA's scale entry;
- an applied ``scale`` / ``hpa`` audit entry and the scale the cluster then made are one scale entry
  (the event's, with ``detail["audit"]``); a scale entry from the audit log alone only when the cluster
  showed no event for it. The audit entry itself is always kept as an ``audit`` entry: it says who asked
  for what (and a set-image's audit entry is likewise kept next to the rollout it started);
- a cluster-derived alert computed from the same status as another entry (CrashLoopBackOff / OOMKilled
  from a container's last termination, FailedScheduling and NodeNotReady from the matching Warning
  event) is merged into that entry (``detail["alerts"]``, the alert's severity) instead of an
  ``alert-start`` entry of its own;
- a Prometheus alert seen both as a record (``/api/v1/alerts``) and as an ``ALERTS`` series is one span.

Entries are sorted by time. Kubernetes and audit timestamps have one-second resolution, so entries of
the same second keep cause-before-effect order: audit, rollout, scale, restart / OOM kill, event, alert;
and within one kind, the order of the input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from console.alerts.model import SEVERITY_ORDER, Alert, AlertTarget, parse_time, pod_deployment
from console.core.units import shown
from console.incident.alerts import alert_entries
from console.incident.model import (
    AUDIT_FOLLOW,
    CHANGE_CAUSE,
    HPA_FOLLOW,
    KIND_RANK,
    NEW_SIZE,
    QUIET_FIELDS,
    SCALED,
    TOLERANCE,
    AlertSpan,
    Obj,
    Scope,
    TimelineEntry,
    in_window,
    iso,
    metadata_of,
    revisions_of,
)

# ---- the builder ---------------------------------------------------------------------------------------------


@dataclass
class _Occurrence:
    """One sighting of a ScalingReplicaSet event (an aggregated event gives its first and last)."""

    time: datetime
    deployment: str
    replicaset: str
    direction: str
    old: int | None  # None: the event did not say (a new ReplicaSet, or a server before v1.26)
    new: int
    message: str
    event: Obj


def build_timeline(*, namespace: str, deployment: str | None = None, now: datetime | None = None,
                   minutes: float = 60, events: Iterable[Obj] = (), pods: Iterable[Obj] = (),
                   replicasets: Iterable[Obj] = (), deployments: Iterable[Obj] = (), hpas: Iterable[Obj] = (),
                   audit: Iterable[Obj] = (), alerts: Iterable[Alert] = (),
                   resolved_alerts: Iterable[tuple[Alert, datetime]] = (),
                   alert_spans: Iterable[AlertSpan] = (), server: str | None = None,
                   replaced_pods: Iterable[Obj] = ()) -> list[TimelineEntry]:
    """The timeline of ``namespace`` (or its ``deployment``) over the ``minutes`` before ``now``.

    Kubernetes inputs are raw JSON objects of that namespace (Lists' ``items``); node events (namespace
    ``default``) may be among ``events``. ``audit`` are audit-log entries (``time/action/target/before/
    after/mode/result/user``); ``alerts`` alert records (firing ones start an entry at ``since``);
    ``resolved_alerts`` (alert, resolved at) pairs the caller saw end; ``alert_spans`` firing spans from a
    Prometheus ``ALERTS`` range query (:func:`alert_spans_from_range`). ``server``: the API server the
    Kubernetes inputs come from; audit entries sent to another server are left out. ``replaced_pods``: what
    the watch kept of pods deleted since (a live pod of the same name wins), as audited changes keep theirs."""
    end = now or datetime.now(UTC)
    start = end - timedelta(minutes=minutes)
    events, pods = list(events), list(pods)
    scope = Scope.build(namespace, deployment, deployments, replicasets, pods, hpas)
    scope.learn_nodes(events)
    audit_entries = [(t, a) for a in audit if (t := parse_time(a.get("time"))) is not None and _audit_in(scope, a)
                     and same_server(a.get("server"), server)]
    for gone in replaced_pods:
        scope.add_pod(gone, replace=False)
    for _, a in audit_entries:  # pods a change replaced: the audit entry is what is left of their failures
        if a.get("mode") == "applied":
            for gone in a.get("replaced") or []:
                scope.add_pod(gone, replace=False)

    occurrences = _scaling_occurrences(scope, events)
    rollouts, steps = _rollouts(scope, occurrences, audit_entries, start, end)
    scales = _scales(scope, events, occurrences, steps, audit_entries, start, end)
    restarts = _restarts(scope, start, end)
    warnings = _warning_events(scope, events, start, end)
    entries = [*_audit_entries(scope, audit_entries, start, end), *rollouts, *scales, *restarts, *warnings]
    entries += alert_entries(scope, entries, list(alerts), list(resolved_alerts), list(alert_spans), start, end)
    return sort_entries(entries)


def sort_entries(entries: Iterable[TimelineEntry]) -> list[TimelineEntry]:
    """By time; within a second, cause before effect (see the module docstring), then by the finer time some
    sources give (eventTime's microseconds); then input order."""
    return sorted(entries, key=lambda e: (e.time.replace(microsecond=0), KIND_RANK.get(e.kind, 9), e.time))


# ---- audit ---------------------------------------------------------------------------------------------------


def _audit_target(entry: Obj) -> tuple[str, str, str]:
    parts = str(entry.get("target") or "").split("/")
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else ("", "", str(entry.get("target") or ""))


def same_server(recorded: Any, server: str | None) -> bool:
    """Whether an audit entry sent to ``recorded`` is about the cluster at ``server``. Either unknown (an entry
    from before servers were recorded, or no server given) counts as the same."""
    if not recorded or not server:
        return True
    return str(recorded).rstrip("/").lower() == server.rstrip("/").lower()


def _audit_in(scope: Scope, entry: Obj) -> bool:
    ns, kind, name = _audit_target(entry)
    if ns != scope.namespace:
        return False
    if kind == "HorizontalPodAutoscaler":
        return scope.deployment is None or scope.hpa_target.get(name) == scope.deployment
    return scope.wants(name) if kind == "Deployment" else scope.deployment is None


def _changes(before: Any, after: Any, prefix: str = "") -> list[str]:
    if not isinstance(before, Mapping) or not isinstance(after, Mapping) or not after:
        return []
    out = []
    for key in after:
        old, new = before.get(key), after.get(key)
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            out += _changes(old, new, f"{prefix}{key}.")
        elif old != new and key not in QUIET_FIELDS:
            out.append(f"{prefix}{key} {shown(old)} → {shown(new)}")
    return out


def _audit_entries(scope: Scope, entries: list[tuple[datetime, Obj]], start: datetime,
                   end: datetime) -> list[TimelineEntry]:
    out = []
    for t, a in entries:
        if not in_window(t, start, end):
            continue
        ns, kind, name = _audit_target(a)
        action, mode, result = a.get("action", "?"), a.get("mode", "?"), a.get("result", "?")
        word = "hpa" if kind == "HorizontalPodAutoscaler" else kind.lower()
        dep = scope.hpa_target.get(name) if kind == "HorizontalPodAutoscaler" else name
        changes = "; ".join(_changes(a.get("before"), a.get("after"))) or "no change"
        who = a.get("user") or "unknown user"
        summary = f"{who}: {action} {word}/{name} ({changes}) — {mode}, {result}"
        ok = result == "ok" and mode != "refused"
        out.append(TimelineEntry(t, "audit", "info" if ok else "warning", AlertTarget(ns, dep), summary,
                                 {k: a.get(k) for k in ("action", "mode", "result", "user", "context", "before",
                                                        "after", "kubectl") if k in a}, (word, ns, name)))
    return out


# ---- rollouts and scaling ------------------------------------------------------------------------------------


def _event_times(ev: Obj) -> tuple[datetime | None, datetime | None, int]:
    """(first, last, count) of a core/v1 Event, also for events.k8s.io-style ones (eventTime, series)."""
    series = ev.get("series") or {}
    first = parse_time(ev.get("firstTimestamp")) or parse_time(ev.get("eventTime")) \
        or parse_time(ev.get("deprecatedFirstTimestamp")) or parse_time(metadata_of(ev).get("creationTimestamp"))
    last = parse_time(ev.get("lastTimestamp")) or parse_time(series.get("lastObservedTime")) \
        or parse_time(ev.get("deprecatedLastTimestamp")) or first
    count = int(ev.get("count") or series.get("count") or ev.get("deprecatedCount") or 1)
    return first, last, count


def _scaling_occurrences(scope: Scope, events: list[Obj]) -> list[_Occurrence]:
    out = []
    for ev in events:
        inv = ev.get("involvedObject") or {}
        match = SCALED.search(ev.get("message") or "")
        if ev.get("reason") != "ScalingReplicaSet" or inv.get("kind") != "Deployment" or not match:
            continue
        if (inv.get("namespace") or scope.namespace) != scope.namespace or not scope.wants(inv.get("name")):
            continue
        first, last, _ = _event_times(ev)
        for t in {first, last}:
            if t is not None:
                old = int(match.group(4)) if match.group(4) is not None else None
                out.append(_Occurrence(t, inv.get("name", ""), match.group(2), match.group(1), old,
                                       int(match.group(3)), ev.get("message", ""), ev))
    return sorted(out, key=lambda o: o.time)


def _images(rs: Obj) -> list[str]:
    spec = ((rs.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [c.get("image", "") for c in spec.get("containers") or []]


def _rollouts(scope: Scope, occurrences: list[_Occurrence], audit: list[tuple[datetime, Obj]], start: datetime,
              end: datetime) -> tuple[list[TimelineEntry], set[int]]:
    """Revision changes in the window, and the ids of the ScalingReplicaSet sightings that were their steps."""
    entries: list[TimelineEntry] = []
    steps: set[int] = set()
    for dep, rss in scope.replicasets.items():
        by_rev: dict[int, Obj] = {}
        for rs in rss:
            for number in revisions_of(rs):
                by_rev[number] = rs
        revs = sorted(by_rev)
        times: list[tuple[datetime | None, str]] = []
        undos = [t for t, a in audit if a.get("action") == "undo" and a.get("mode") == "applied"
                 and a.get("result") == "ok" and _audit_target(a)[2] == dep]
        for i, number in enumerate(revs):
            prev = times[-1][0] if times else None
            prev_rs = metadata_of(by_rev[revs[i - 1]]).get("name") if i else None
            times.append(_revision_time(by_rev[number], number, prev, prev_rs, occurrences, undos))
        mine = [o for o in occurrences if o.deployment == dep]
        for i, number in enumerate(revs):
            t, how = times[i]
            next_t = times[i + 1][0] if i + 1 < len(times) else None
            rs = by_rev[number]
            name = metadata_of(rs).get("name", "")
            span = _rollout_span(mine, name, t, next_t)
            steps.update(id(o) for o in span)
            if t is None or not in_window(t, start, end):
                continue
            old_rs = by_rev[revs[i - 1]] if i else None
            entries.append(_rollout_entry(scope, dep, number, rs, revs[i - 1] if i else None, old_rs, by_rev, t, how,
                                          span))
    return entries, steps


def _revision_time(rs: Obj, number: int, prev: datetime | None, prev_rs: str | None,
                   occurrences: list[_Occurrence], undos: list[datetime]) -> tuple[datetime | None, str]:
    """When a ReplicaSet became revision ``number``: its creation for its first revision. A later one (an
    undo brings an old ReplicaSet back) has no timestamp of its own; the first after the previous revision
    of: the audited undo; the ReplicaSet scaled up from 0; the previous revision's ReplicaSet scaled down;
    the ReplicaSet scaled up at all; else (estimated) the previous revision's time."""
    created = parse_time(metadata_of(rs).get("creationTimestamp"))
    if number == revisions_of(rs)[0] and created is not None and (prev is None or created >= prev - TOLERANCE):
        return created, "created"
    name = metadata_of(rs).get("name")
    floor = prev - TOLERANCE if prev else None
    ups = [o for o in occurrences if o.replicaset == name and o.direction == "up"]
    clues = (("audit", undos),
             ("scaled up from 0", [o.time for o in ups if o.old == 0]),
             ("previous scaled down", [o.time for o in occurrences if o.replicaset == prev_rs and o.direction == "down"
                                       and (prev is None or o.time > prev + TOLERANCE)]),
             ("scaled up", [o.time for o in ups]))
    for how, times in clues:
        later = [t for t in times if floor is None or t >= floor]
        if later:
            return min(later), how
    return prev, "estimated"


def _rollout_span(occurrences: list[_Occurrence], rs_name: str, t: datetime | None,
                  next_t: datetime | None) -> list[_Occurrence]:
    """The ScalingReplicaSet sightings of one rollout: from its revision change until an older ReplicaSet
    is last scaled down to 0 (or, when none is, until the next revision)."""
    if t is None:
        return []
    upper = next_t - TOLERANCE if next_t else None
    during = [o for o in occurrences if o.time >= t - TOLERANCE and (upper is None or o.time < upper)]
    done = [o.time for o in during if o.replicaset != rs_name and o.direction == "down" and o.new == 0]
    finish = max(done) if done else None
    return [o for o in during if finish is None or o.time <= finish]


def _rollout_entry(scope: Scope, dep: str, number: int, rs: Obj, old_number: int | None, old_rs: Obj | None,
                   by_rev: Mapping[int, Obj], t: datetime, how: str, span: list[_Occurrence]) -> TimelineEntry:
    images, old_images = _images(rs), (_images(old_rs) if old_rs is not None else [])
    rollback_of = next((n for n, other in by_rev.items() if other is rs and n < number), None)
    if old_rs is None:
        what = f"revision {number}: {', '.join(images) or '?'}"
    else:
        changed = [f"{a} → {b}" for a, b in zip(old_images, images, strict=False) if a != b]
        what = f"revision {old_number} → {number}: " + (", ".join(changed) or "same images (template change)")
    if rollback_of is not None:
        what += f" (rollback to revision {rollback_of}'s template)"
    cause = ((metadata_of(rs).get("annotations") or {}).get(CHANGE_CAUSE)) or ""
    detail = {"revision": number, "previous_revision": old_number, "replicaset": metadata_of(rs).get("name"),
              "images": images, "old_images": old_images, "change_cause": cause, "rollback_of": rollback_of,
              "time_from": how, "steps": [{"time": o.time, "message": o.message} for o in span]}
    ns = scope.namespace
    return TimelineEntry(t, "rollout", "info", AlertTarget(ns, dep), f"deployment/{dep} {what}", detail,
                         ("deployment", ns, dep))


def _scales(scope: Scope, events: list[Obj], occurrences: list[_Occurrence], steps: set[int],
            audit: list[tuple[datetime, Obj]], start: datetime, end: datetime) -> list[TimelineEntry]:
    ns = scope.namespace
    hpa_entries: list[TimelineEntry] = []
    for ev in events:
        inv = ev.get("involvedObject") or {}
        if ev.get("reason") != "SuccessfulRescale" or inv.get("kind") != "HorizontalPodAutoscaler":
            continue
        if (inv.get("namespace") or ns) != ns or inv.get("name") not in scope.hpa_target:
            continue
        first, last, count = _event_times(ev)
        t = first if in_window(first, start, end) else last
        if not in_window(t, start, end):
            continue
        name, dep = inv["name"], scope.hpa_target[inv["name"]]
        size = NEW_SIZE.search(ev.get("message") or "")
        detail = {"source": "hpa", "hpa": name, "new_size": int(size.group(1)) if size else None,
                  "message": ev.get("message", ""), "count": count, "first": first, "last": last,
                  "replicasets": []}
        again = f" (×{count}, last {iso(last)})" if count > 1 else ""
        hpa_entries.append(TimelineEntry(t, "scale", "info", AlertTarget(ns, dep),
                                         f"HPA {name} rescaled deployment/{dep}: {ev.get('message', '')}{again}",
                                         detail, ("hpa", ns, name)))
    manual: list[TimelineEntry] = []
    for o in occurrences:
        if id(o) in steps or not in_window(o.time, start, end):
            continue
        hpa = next((e for e in hpa_entries if e.target.deployment == o.deployment
                    and e.time - TOLERANCE <= o.time <= e.time + HPA_FOLLOW), None)
        if hpa is not None:
            hpa.detail["replicasets"].append({"time": o.time, "message": o.message})
            continue
        manual.append(TimelineEntry(o.time, "scale", "info", AlertTarget(ns, o.deployment),
                                    f"deployment/{o.deployment}: {o.message}",
                                    {"source": "event", "replicaset": o.replicaset, "from": o.old, "to": o.new,
                                     "message": o.message}, ("deployment", ns, o.deployment)))
    out = [*hpa_entries, *manual]
    for t, a in audit:
        if a.get("mode") != "applied" or a.get("result") != "ok" or a.get("action") not in ("scale", "hpa"):
            continue
        _, kind, name = _audit_target(a)
        record = {"time": t, "user": a.get("user"), "before": a.get("before"), "after": a.get("after")}
        match = next((i for i, e in enumerate(out) if t - TOLERANCE <= e.time <= t + AUDIT_FOLLOW
                      and "audit" not in e.detail
                      and ((a["action"] == "scale" and kind == "Deployment" and e.target.deployment == name)
                           or (a["action"] == "hpa" and e.detail.get("hpa") == name))), None)
        if match is not None:
            e = out[match]
            out[match] = replace(e, summary=f"{e.summary} (llmctl {a['action']} by {a.get('user') or '?'})",
                                 detail={**e.detail, "audit": record})
        elif a["action"] == "scale" and in_window(t, start, end):
            before = (a.get("before") or {}).get("replicas")
            after = (a.get("after") or {}).get("replicas")
            out.append(TimelineEntry(t, "scale", "info", AlertTarget(scope.namespace, name),
                                     f"deployment/{name} scaled {before} → {after} by {a.get('user') or '?'} "
                                     "(audit log; no cluster event seen)",
                                     {"source": "audit", "from": before, "to": after, "audit": record},
                                     ("deployment", scope.namespace, name)))
    return out


# ---- pods and events -----------------------------------------------------------------------------------------


def _restarts(scope: Scope, start: datetime, end: datetime) -> list[TimelineEntry]:
    out = []
    for name, pod in scope.pods.items():
        status, node = pod.get("status") or {}, (pod.get("spec") or {}).get("nodeName")
        dep = pod_deployment(pod)
        for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
            last = (cs.get("lastState") or {}).get("terminated") or {}
            t = parse_time(last.get("finishedAt"))
            if not last or not in_window(t, start, end):
                continue
            assert t is not None
            reason, code = last.get("reason") or "Error", last.get("exitCode")
            oom = reason == "OOMKilled"
            waiting = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
            restarts = cs.get("restartCount") or 0
            now = f", now {waiting}" if waiting else ""
            what = "OOMKilled" if oom else f"exited ({reason}, exit code {code})"
            summary = f"{name}: container {cs.get('name')} {what}; {restarts} restart{'s' * (restarts != 1)}{now}"
            out.append(TimelineEntry(t, "oomkill" if oom else "restart", "critical" if oom else "warning",
                                     AlertTarget(scope.namespace, dep, name, node), summary,
                                     {"container": cs.get("name"), "reason": reason, "exit_code": code,
                                      "restarts": restarts, "started": parse_time(last.get("startedAt")),
                                      "finished": t, "waiting": waiting, "image": cs.get("image"), "alerts": []},
                                     ("pod", scope.namespace, name)))
    return out


def _warning_events(scope: Scope, events: list[Obj], start: datetime, end: datetime) -> list[TimelineEntry]:
    out = []
    for ev in events:
        if ev.get("type") != "Warning":
            continue
        inv = ev.get("involvedObject") or {}
        found = scope.involved(inv)
        if found is None:
            continue
        first, last, count = _event_times(ev)
        if first is None or last is None or last < start or first > end + TOLERANCE:
            continue
        t = first if first >= start else last  # an event going on since before the window: its last sighting
        target, ref = found
        reason = ev.get("reason", "")
        again = f" (×{count} from {iso(first)} to {iso(last)})" if count > 1 else ""
        summary = f"{inv.get('kind')}/{inv.get('name')}: {reason}: {ev.get('message', '')}{again}"
        out.append(TimelineEntry(t, "event", "warning", target, summary,
                                 {"reason": reason, "message": ev.get("message", ""), "count": count, "first": first,
                                  "last": last, "object": f"{inv.get('kind')}/{inv.get('name')}",
                                  "source": (ev.get("source") or {}).get("component") or ev.get("reportingComponent"),
                                  "alerts": []}, ref))
    return out


def severity_max(entries: Sequence[TimelineEntry]) -> str:
    return min((e.severity for e in entries), key=lambda s: SEVERITY_ORDER.get(s, 9), default="none")
