"""The console's alert state: every source's latest alerts merged, acknowledged locally, remembered once resolved.

Each source group (``cluster``, ``prometheus``, ``alertmanager``, ``builtin``) replaces its own alerts on
each update; a firing alert that disappears from its group is kept as *resolved* (with the time it went
away) for ``keep_resolved_s`` so the panel and the incident timeline can show it (a pending one that never
fired just goes). An update returns the alerts that became firing since the previous one: what the console
notifies about. An alert is one row from its first sighting to its resolution, its start the earliest it
gave (a crash loop's own time moves on at every crash); firing again after it resolved starts anew.

:func:`group_rows` gathers the current alerts of one Deployment (two or more) under an :class:`AlertGroup`,
for the Alerts panel.

The same alert seen by Prometheus and Alertmanager is shown once, Alertmanager's copy (it knows the
silences). Acknowledging is local to this console (nothing is sent anywhere); an acknowledged alert stays
listed but no longer counts in the header. No I/O and no Textual here.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from console.alerts.model import SEVERITY_ORDER, Alert, AlertTarget, sort_alerts

GROUPS = ("cluster", "prometheus", "alertmanager", "builtin")
KEEP_RESOLVED_S = 3600.0


def alert_key(alert: Alert) -> str:
    """Identity of an alert across updates: source, name and target."""
    return f"{alert.source}|{alert.name}|{alert.target}"


def _identity(alert: Alert) -> tuple[str, str]:
    return alert.name, str(alert.target)


@dataclass(frozen=True)
class AlertRow:
    alert: Alert
    key: str
    acknowledged: bool
    first_seen: datetime
    resolved_at: datetime | None = None

    @property
    def since(self) -> datetime:
        """When it started: the earliest of the source's own time and the first sighting's (a crash loop's
        own time is its latest crash)."""
        return min(self.alert.since, self.first_seen) if self.alert.since else self.first_seen


@dataclass(frozen=True)
class AlertSummary:
    """What the header shows: firing alerts not acknowledged or silenced, and how many of them are critical."""

    firing: int = 0
    critical: int = 0
    muted: int = 0  # firing but acknowledged here or silenced in Alertmanager
    errors: tuple[tuple[str, str], ...] = ()  # (source group, message)


def compile_filter(text: str) -> re.Pattern[str] | None:
    """A filter as typed: ``/regex/`` or a case-insensitive substring; "" is no filter.
    Raises ValueError with the regex's problem for a bad ``/regex/``."""
    text = text.strip()
    if not text:
        return None
    if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
        try:
            return re.compile(text[1:-1], re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"bad filter regex {text}: {exc}") from None
    return re.compile(re.escape(text), re.IGNORECASE)


def row_text(row: AlertRow) -> str:
    a = row.alert
    return " ".join((a.severity, a.state, a.source, a.name, str(a.target), a.summary))


class AlertCenter:
    def __init__(self, keep_resolved_s: float = KEEP_RESOLVED_S) -> None:
        self.keep_resolved_s = keep_resolved_s
        self._current: dict[str, dict[str, Alert]] = {g: {} for g in GROUPS}
        self._first_seen: dict[str, datetime] = {}
        self._resolved: dict[str, tuple[Alert, datetime]] = {}
        self._acked: set[str] = set()
        self._errors: dict[str, str] = {}
        self._updated: dict[str, datetime] = {}

    # ---- updates --------------------------------------------------------------------------------
    def update(self, group: str, alerts: Iterable[Alert], now: datetime | None = None) -> list[Alert]:
        """Replace ``group``'s alerts; return those newly firing (not firing in this group before)."""
        if group not in self._current:
            raise ValueError(f"unknown alert source group {group!r} (known: {', '.join(GROUPS)})")
        now = now or datetime.now(UTC)
        before = self._current[group]
        after = {alert_key(a): a for a in alerts}
        fresh = []
        for key, alert in after.items():
            if key not in before:  # new, or back after it resolved: a new episode, with its own start
                self._first_seen[key] = alert.since or now
            self._resolved.pop(key, None)
            if alert.state == "firing" and (key not in before or before[key].state != "firing"):
                fresh.append(alert)
        for key, alert in before.items():
            if key not in after:
                if alert.state == "firing":
                    self._resolved[key] = (replace(alert, state="resolved"), now)
                else:  # pending that never fired: nothing resolved
                    self._first_seen.pop(key, None)
                self._acked.discard(key)
        self._current[group] = after
        self._errors.pop(group, None)
        self._updated[group] = now
        self._expire(now)
        return sort_alerts(fresh)

    def set_error(self, group: str, message: str) -> None:
        """The group could not be read: its last alerts stay shown, with this message beside them."""
        self._errors[group] = message

    def clear(self, group: str) -> None:
        """The group is no longer configured: forget its alerts without calling them resolved."""
        for key in self._current.get(group, {}):
            self._first_seen.pop(key, None)
        self._current[group] = {}
        self._errors.pop(group, None)

    def _expire(self, now: datetime) -> None:
        horizon = now - timedelta(seconds=self.keep_resolved_s)
        for key in [k for k, (_, at) in self._resolved.items() if at < horizon]:
            del self._resolved[key]
            self._first_seen.pop(key, None)

    # ---- acknowledgement --------------------------------------------------------------------------
    def acknowledge(self, key: str) -> bool:
        """Toggle the acknowledgement of a current alert; returns the new state."""
        if key in self._acked:
            self._acked.discard(key)
            return False
        if not any(key in alerts for alerts in self._current.values()):
            raise KeyError(f"no current alert {key}")
        self._acked.add(key)
        return True

    def acknowledge_all(self, keys: Iterable[str]) -> bool:
        """Acknowledge every current alert of ``keys`` — or, when all already are, take it back from all
        (a group's toggle); returns the new state."""
        current = [k for k in keys if any(k in alerts for alerts in self._current.values())]
        if not current:
            raise KeyError("no current alert among them")
        if all(k in self._acked for k in current):
            self._acked.difference_update(current)
            return False
        self._acked.update(current)
        return True

    # ---- reading --------------------------------------------------------------------------------
    def _visible(self) -> list[Alert]:
        manager = {_identity(a) for a in self._current["alertmanager"].values()}
        out = []
        for group, alerts in self._current.items():
            for alert in alerts.values():
                if group == "prometheus" and alert.state == "firing" and _identity(alert) in manager:
                    continue  # Alertmanager shows the same alert, with its silences
                out.append(alert)
        return out

    def rows(self, pattern: re.Pattern[str] | None = None, resolved: bool = True) -> list[AlertRow]:
        """Current alerts (most severe, then longest-standing first), then resolved ones (latest first)."""
        current = []
        for alert in sort_alerts(self._visible()):
            key = alert_key(alert)
            current.append(AlertRow(alert, key, key in self._acked, self._first_seen.get(key, alert.since
                                                                                            or datetime.now(UTC))))
        gone = []
        if resolved:
            for key, (alert, at) in sorted(self._resolved.items(), key=lambda kv: kv[1][1], reverse=True):
                gone.append(AlertRow(alert, key, False, self._first_seen.get(key, at), at))
        rows = current + gone
        if pattern is not None:
            rows = [r for r in rows if pattern.search(row_text(r))]
        return rows

    def resolved(self) -> list[tuple[Alert, datetime, datetime]]:
        """Alerts seen firing that went away: (alert, first seen, resolved at), oldest first."""
        return sorted(((a, self._first_seen.get(k, at), at) for k, (a, at) in self._resolved.items()),
                      key=lambda t: t[2])

    def current(self) -> list[Alert]:
        return sort_alerts(self._visible())

    def summary(self) -> AlertSummary:
        firing = [a for a in self._visible() if a.state == "firing"]
        unacked = [a for a in firing if alert_key(a) not in self._acked and not getattr(a, "silenced_by", ())]
        return AlertSummary(
            firing=len(unacked),
            critical=sum(1 for a in unacked if SEVERITY_ORDER.get(a.severity, 9) == 0),
            muted=len(firing) - len(unacked),
            errors=tuple(sorted(self._errors.items())),
        )

    def status(self, group: str) -> tuple[datetime | None, str | None]:
        """When the group was last read, and its error if the last read failed."""
        return self._updated.get(group), self._errors.get(group)


# ---- grouping by Deployment ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertGroup:
    """The current alerts of one Deployment (two or more), in the center's order (most severe, oldest first)."""

    namespace: str | None
    deployment: str
    rows: tuple[AlertRow, ...]

    @property
    def key(self) -> str:
        return f"group|{self.namespace or ''}/{self.deployment}"

    @property
    def target(self) -> AlertTarget:
        return AlertTarget(namespace=self.namespace, deployment=self.deployment)

    @property
    def severity(self) -> str:
        return min((r.alert.severity for r in self.rows), key=lambda s: SEVERITY_ORDER.get(s, len(SEVERITY_ORDER)))

    @property
    def state(self) -> str:
        return "firing" if any(r.alert.state == "firing" for r in self.rows) else self.rows[0].alert.state

    @property
    def since(self) -> datetime:
        return min(r.since for r in self.rows)

    @property
    def acknowledged(self) -> bool:
        return all(r.acknowledged for r in self.rows)

    @property
    def summary(self) -> str:
        names = Counter(r.alert.name for r in self.rows)
        return f"{len(self.rows)} alerts: " + ", ".join(f"{n} ×{c}" if c > 1 else n for n, c in names.items())


def deployment_of(alert: Alert, deployments: Iterable[str] = ()) -> str | None:
    """The Deployment an alert is about: its target's, else the one whose ``<name>-`` its pod's name starts
    with (the longest; ``deployments`` are the names known)."""
    if alert.target.deployment:
        return alert.target.deployment
    pod = alert.target.pod
    names = [d for d in deployments if pod and pod.startswith(d + "-")]
    return max(names, key=len) if names else None


def group_rows(rows: Iterable[AlertRow], deployments: Iterable[str] = ()) -> list[AlertRow | AlertGroup]:
    """The rows with the current alerts of each Deployment that has two or more gathered into one
    :class:`AlertGroup`, placed where its first (most severe, oldest) alert was. Resolved rows and alerts
    about no Deployment (a node, a GPU without a pod) stay as they are."""
    known = list(deployments)
    rows = list(rows)
    members: dict[tuple[str | None, str], list[AlertRow]] = {}
    for row in rows:
        dep = deployment_of(row.alert, known) if row.resolved_at is None else None
        if dep:
            members.setdefault((row.alert.target.namespace, dep), []).append(row)
    groups = {key: AlertGroup(key[0], key[1], tuple(found)) for key, found in members.items() if len(found) > 1}
    grouped = {r.key: g for g in groups.values() for r in g.rows}
    out: list[AlertRow | AlertGroup] = []
    placed: set[str] = set()
    for row in rows:
        group = grouped.get(row.key)
        if group is None:
            out.append(row)
        elif group.key not in placed:
            placed.add(group.key)
            out.append(group)
    return out
