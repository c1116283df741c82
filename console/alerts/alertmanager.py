"""Alertmanager's v2 API: its alerts (with the silences and inhibitions muting them) and silences.

:class:`AlertmanagerClient` is synchronous (console/http.py: one request per call, a timeout on each, no
retries) and keeps no state between calls, so one client may be used from several threads. What goes wrong comes
back as an :class:`AlertmanagerError` whose message a person can act on: ``Alertmanager unreachable at
URL: ...``, ``Alertmanager at URL answered HTTP 400: <Alertmanager's own message>``, or the local
validation's reason. Credentials (bearer token, basic auth, a ``user:password@`` in the URL) only ever go
into request headers: never into messages, reprs or logs.

Silences are changes: every :meth:`~AlertmanagerClient.create_silence` and
:meth:`~AlertmanagerClient.expire_silence`, and every refused one, is written to the audit log
(``silence-create`` / ``silence-expire``, mode ``applied`` or ``refused``). Alertmanager has no dry-run:
the input is validated here before anything is sent (matchers well formed with regexes that compile,
at least one matcher that does not match an empty label, a duration above 0 and at most 30 days, a
comment, an author, a known silence id), and what Alertmanager itself rejects (HTTP 400/422, e.g. a
regex Go's RE2 refuses that Python accepts) is reported with its message.
"""

from __future__ import annotations

import getpass
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from console.alerts.model import Alert, parse_time, target_from_labels
from console.audit import AuditError, AuditLog
from console.core.units import parse_duration
from console.http import HttpClient, HttpError

TIMEOUT_S = 10.0
MAX_SILENCE = timedelta(days=30)
# Labels that say which thing an alert is about (besides alertname): what a silence for "this alert" keeps.
IDENTIFYING_LABELS = ("namespace", "exported_namespace", "deployment", "exported_deployment", "pod", "exported_pod",
                      "node", "Hostname", "kubernetes_node", "gpu")
ErrorKind = Literal["invalid", "not-found", "unreachable", "refused", "http", "audit"]


class AlertmanagerError(ValueError):
    """A refused input or a failed request; the message is safe to show (no credentials).

    ``kind``: ``invalid`` (rejected before sending, or by Alertmanager's 400/422), ``not-found`` (no such
    silence), ``unreachable``, ``refused`` (HTTP 401/403, or read-only mode), ``http`` (another status),
    ``audit`` (the audit log could not be written)."""

    def __init__(self, message: str, kind: ErrorKind = "invalid") -> None:
        super().__init__(message)
        self.kind = kind


# --- matchers and durations ------------------------------------------------------------------------------------

_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)


@dataclass(frozen=True)
class Matcher:
    """One silence matcher: ``name=value``, ``name!=value``, ``name=~regex``, ``name!~regex``."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    @property
    def op(self) -> str:
        return ("=" if self.is_equal else "!=") if not self.is_regex else ("=~" if self.is_equal else "!~")

    def __str__(self) -> str:
        return f"{self.name}{self.op}{json.dumps(self.value, ensure_ascii=False)}"

    def matches(self, value: str) -> bool:
        """Whether a label value (``""`` for a missing label) is matched, as Alertmanager anchors regexes."""
        hit = re.fullmatch(self.value, value) is not None if self.is_regex else value == self.value
        return hit == self.is_equal

    def to_api(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "isRegex": self.is_regex, "isEqual": self.is_equal}


def parse_matcher(text: str | Matcher) -> Matcher:
    """``name=value`` (also ``!=``, ``=~``, ``!~``; the value may be double-quoted). Raises AlertmanagerError."""
    if isinstance(text, Matcher):
        matcher = text
    else:
        found = _MATCHER.match(str(text))
        if not found:
            raise AlertmanagerError(f"bad matcher {text!r}: expected name=value, name!=value, name=~regex or "
                                    "name!~regex, with a label name of letters, digits and _")
        name, op, value = found.groups()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            try:
                value = json.loads(value)
            except ValueError:
                raise AlertmanagerError(f"bad matcher {text!r}: the quoted value is not a valid string") from None
        matcher = Matcher(name, value, is_regex="~" in op, is_equal=not op.startswith("!"))
    if matcher.is_regex:
        try:
            re.compile(matcher.value)
        except re.error as exc:
            raise AlertmanagerError(f"bad matcher {text}: the regex does not compile: {exc}") from None
    return matcher


def parse_matchers(texts: Iterable[str | Matcher]) -> tuple[Matcher, ...]:
    """Every matcher parsed; at least one, and at least one that does not also match an absent label (as
    Alertmanager requires: a silence must not match every alert)."""
    matchers = tuple(parse_matcher(t) for t in texts)
    if not matchers:
        raise AlertmanagerError("a silence needs at least one matcher (e.g. alertname=GPUFramebufferHigh)")
    if all(m.matches("") for m in matchers):
        raise AlertmanagerError("every matcher also matches alerts without that label, so the silence would "
                                "mute everything: add one that names a value (e.g. alertname=NAME)")
    return matchers


def parse_silence_duration(text: str | timedelta) -> timedelta:
    """``90s``, ``30m``, ``2h``, ``1d`` or a sum (``1h30m``) (console.core.units' durations); above 0 and at
    most 30 days."""
    if isinstance(text, timedelta):
        duration = text
        shown = str(text)
    else:
        shown = str(text).strip()
        try:
            duration = timedelta(seconds=parse_duration(shown))
        except (ValueError, OverflowError):
            raise AlertmanagerError(f"bad duration {text!r}: expected a number and a unit, e.g. 90s, 30m, 2h or "
                                    "1d") from None
    if duration <= timedelta(0):
        raise AlertmanagerError(f"bad duration {shown!r}: a silence must last more than 0 seconds")
    if duration > MAX_SILENCE:
        raise AlertmanagerError(f"bad duration {shown!r}: at most 30d (a longer silence hides a problem for good: "
                                "fix the rule or its threshold instead)")
    return duration


def matchers_for(alert: Alert) -> tuple[Matcher, ...]:
    """Matchers for "this alert": its alertname and identifying labels (namespace, deployment, pod, node or
    ``Hostname``, GPU index); from the target when the alert carries no labels (cluster-derived ones)."""
    labels = dict(alert.labels)
    out = [Matcher("alertname", labels.get("alertname", alert.name))]
    if labels:
        out += [Matcher(name, labels[name]) for name in IDENTIFYING_LABELS if labels.get(name)]
    else:
        t = alert.target
        out += [Matcher(name, value) for name, value in (("namespace", t.namespace), ("deployment", t.deployment),
                                                         ("pod", t.pod), ("node", t.node), ("gpu", t.gpu)) if value]
    return tuple(out)


# --- records ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime | None
    ends_at: datetime | None
    created_by: str
    comment: str
    state: str  # active | pending | expired

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels.get(m.name, "")) for m in self.matchers)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "matchers": [str(m) for m in self.matchers],
                "starts_at": self.starts_at.isoformat() if self.starts_at else None,
                "ends_at": self.ends_at.isoformat() if self.ends_at else None,
                "created_by": self.created_by, "comment": self.comment, "state": self.state}


_STATE_ORDER = {"active": 0, "pending": 1, "expired": 2}


def parse_silence(raw: Mapping[str, Any]) -> Silence:
    matchers = tuple(Matcher(str(m.get("name", "")), str(m.get("value", "")), bool(m.get("isRegex")),
                             bool(m.get("isEqual", True))) for m in raw.get("matchers") or ())
    return Silence(str(raw.get("id", "")), matchers, parse_time(raw.get("startsAt")), parse_time(raw.get("endsAt")),
                   str(raw.get("createdBy", "")), str(raw.get("comment", "")),
                   str((raw.get("status") or {}).get("state", "")))


def parse_alertmanager_alerts(doc: Any) -> list[Alert]:
    """Alerts of an Alertmanager ``GET /api/v2/alerts`` answer (a list of gettable alerts). Alertmanager
    holds only firing alerts; muted ones carry the ids of the silences (or alerts) muting them."""
    if not isinstance(doc, list):
        raise AlertmanagerError("not an /api/v2/alerts answer: expected a list of alerts", "http")
    out = []
    for raw in doc:
        labels = {str(k): str(v) for k, v in (raw.get("labels") or {}).items()}
        annotations = raw.get("annotations") or {}
        status = raw.get("status") or {}
        out.append(Alert(
            source="alertmanager", name=labels.get("alertname", "?"), severity=labels.get("severity", "none"),
            state="firing", since=parse_time(raw.get("startsAt")), target=target_from_labels(labels),
            summary=annotations.get("summary") or annotations.get("description") or labels.get("alertname", ""),
            labels=tuple(sorted(labels.items())),
            silenced_by=tuple(status.get("silencedBy") or ()), inhibited_by=tuple(status.get("inhibitedBy") or ()),
        ))
    return out


def merge_alerts(prometheus: Iterable[Alert], alertmanager: Iterable[Alert]) -> list[Alert]:
    """Both lists, a Prometheus firing alert left out when Alertmanager shows it too (same alertname, its
    labels a subset of Alertmanager's, which may add external labels): Alertmanager's copy knows the silences."""
    manager = list(alertmanager)
    label_sets = [(a.name, set(a.labels)) for a in manager]
    kept = [a for a in prometheus
            if not (a.state == "firing" and a.labels
                    and any(name == a.name and set(a.labels) <= labels for name, labels in label_sets))]
    return kept + manager


# --- the client ------------------------------------------------------------------------------------------------


class AlertmanagerClient:
    """Alertmanager's v2 API (``/api/v2/alerts``, ``/api/v2/silences``, ``/api/v2/silence/{id}``).

    Synchronous and stateless between calls (thread-safe). ``audit`` receives every silence change and
    refusal (default: the user's audit log); ``readonly`` refuses every change (audited as refused)."""

    def __init__(self, url: str, *, token: str | None = None, username: str | None = None,
                 password: str | None = None, insecure: bool = False, timeout: float = TIMEOUT_S,
                 audit: AuditLog | None = None, readonly: bool = False) -> None:
        try:
            self._http = HttpClient(url, service="Alertmanager", token=token, username=username, password=password,
                                    insecure=insecure, timeout=timeout)
        except HttpError as exc:  # not an http(s) URL
            raise AlertmanagerError(str(exc)) from None
        self.url = self._http.url
        self.where = self._http.where
        self.source = f"Alertmanager at {self.where}"
        self.audit = audit  # None: a read-only client (every change is refused: nothing could record it)
        self.readonly = readonly

    @classmethod
    def from_settings(cls, settings: Any, audit: AuditLog) -> AlertmanagerClient:
        """A client for ``settings.alertmanager_url`` (console.config.Settings) and its credentials."""
        if not settings.alertmanager_url:
            raise AlertmanagerError("no Alertmanager configured: give --alertmanager URL (or "
                                    "LLMCTL_ALERTMANAGER_URL, or alertmanager_url in the config)", "invalid")
        return cls(settings.alertmanager_url, token=settings.alertmanager_token,
                   username=settings.alertmanager_username, password=settings.alertmanager_password,
                   insecure=settings.alertmanager_insecure,
                   audit=audit, readonly=settings.readonly)

    def __repr__(self) -> str:
        return f"AlertmanagerClient({self.where!r})"

    @property
    def timeout(self) -> float:
        """Seconds each request may take (connect, and each read)."""
        return self._http.timeout

    @timeout.setter
    def timeout(self, seconds: float) -> None:
        self._http.timeout = seconds

    # ---- reads ----------------------------------------------------------------------------------
    def alerts(self) -> list[Alert]:
        """Every alert Alertmanager holds (all firing), silenced and inhibited ones included."""
        query = {"active": "true", "silenced": "true", "inhibited": "true", "unprocessed": "true"}
        return parse_alertmanager_alerts(self._request("GET", "/api/v2/alerts", query=query))

    def silences(self) -> list[Silence]:
        """Every silence Alertmanager keeps: active, then pending, then expired; soonest-ending first."""
        doc = self._request("GET", "/api/v2/silences")
        if not isinstance(doc, list):
            raise AlertmanagerError(f"unexpected answer from {self.source}: not a list of silences", "http")
        far = datetime.max.replace(tzinfo=UTC)
        return sorted((parse_silence(s) for s in doc),
                      key=lambda s: (_STATE_ORDER.get(s.state, 3), s.ends_at or far, s.id))

    def silence(self, silence_id: str) -> Silence:
        """One silence; AlertmanagerError (kind ``not-found``) when there is none with this id."""
        sid = self._check_id(silence_id)
        try:
            doc = self._request("GET", f"/api/v2/silence/{sid}")
        except AlertmanagerError as exc:
            if exc.kind == "not-found":
                raise AlertmanagerError(f"no silence {sid} at {self.source}", "not-found") from None
            raise
        if not isinstance(doc, Mapping):
            raise AlertmanagerError(f"unexpected answer from {self.source}: not a silence", "http")
        return parse_silence(doc)

    # ---- changes --------------------------------------------------------------------------------
    def prefill(self, alertname: str, extra: Iterable[str | Matcher] = ()) -> tuple[Matcher, ...]:
        """:func:`matchers_for` the one alert named ``alertname`` in Alertmanager that the ``extra`` matchers
        also match, plus those (each replacing a prefilled matcher of the same name)."""
        more = [parse_matcher(m) for m in extra]
        candidates = [a for a in self.alerts() if a.name == alertname
                      and all(m.matches(dict(a.labels).get(m.name, "")) for m in more)]
        if not candidates:
            raise AlertmanagerError(f"no firing alert {alertname}" + (" matching the matchers" if more else "")
                                    + f" in {self.source}", "not-found")
        if len(candidates) > 1:
            targets = "; ".join(str(a.target) for a in candidates[:5])
            raise AlertmanagerError(f"{len(candidates)} alerts named {alertname} ({targets}): add a matcher to "
                                    "pick one (e.g. pod=NAME)")
        by_name = {m.name: m for m in more}
        prefilled = tuple(by_name.pop(m.name, m) for m in matchers_for(candidates[0]))
        return prefilled + tuple(m for m in more if m.name in by_name)

    def create_silence(self, matchers: Iterable[str | Matcher], duration: str | timedelta, comment: str,
                       created_by: str | None = None, *, alert: str | None = None) -> str:
        """Create a silence from now for ``duration``; returns its id. ``alert``: prefill the matchers from
        the firing alert of that name (:meth:`prefill`; ``matchers`` then pick among several and are added).
        Validated first (nothing is sent otherwise); the outcome is audited either way."""
        given = [str(m) for m in matchers] if not isinstance(matchers, str) else [matchers]
        entry: dict[str, Any] = {"action": "silence-create", "user": created_by or "", "target": "silence (new)",
                                 "before": None, "after": {"matchers": given, "duration": str(duration),
                                                           "comment": comment, **({"alert": alert} if alert else {})}}
        try:
            self._refuse_if_readonly()
            parsed = parse_matchers(self.prefill(alert, given) if alert else given)
            span = parse_silence_duration(duration)
            if not comment or not comment.strip():
                raise AlertmanagerError("a silence needs a comment: say why (e.g. a ticket, \"draining gpu-node-2\")")
            author = (created_by or "").strip()
            if not author:
                raise AlertmanagerError("a silence needs an author (created_by)")
            start = datetime.now(UTC)
            body = {"matchers": [m.to_api() for m in parsed], "startsAt": _rfc3339(start),
                    "endsAt": _rfc3339(start + span), "createdBy": author, "comment": comment.strip()}
            entry["after"] = {"matchers": [str(m) for m in parsed], "starts_at": body["startsAt"],
                              "ends_at": body["endsAt"], "created_by": author, "comment": body["comment"]}
            entry["target"] = "silence {" + ", ".join(str(m) for m in parsed) + "}"
            doc = self._request("POST", "/api/v2/silences", body=body)
            sid = str((doc or {}).get("silenceID") or "") if isinstance(doc, Mapping) else ""
            if not sid:
                raise AlertmanagerError(f"unexpected answer from {self.source}: no silenceID", "http")
        except AlertmanagerError as exc:
            self._audit(entry, "refused", str(exc))
            raise
        entry["after"] = {"id": sid, **entry["after"]}
        entry["target"] = f"silence/{sid}"
        self._audit(entry, "applied", "ok", done=f"silence {sid} was created")
        return sid

    def expire_silence(self, silence_id: str, expired_by: str | None = None) -> Silence:
        """Expire an active or pending silence now; returns it as it was. Unknown or already expired ids are
        refused (audited)."""
        entry: dict[str, Any] = {"action": "silence-expire", "user": expired_by or _user(),
                                 "target": f"silence/{silence_id}", "before": None, "after": {"state": "expired"}}
        try:
            self._refuse_if_readonly()
            before = self.silence(silence_id)
            entry["before"] = before.to_json()
            if before.state == "expired":
                raise AlertmanagerError(f"silence {before.id} has already expired"
                                        + (f" ({before.ends_at.isoformat()})" if before.ends_at else ""))
            self._request("DELETE", f"/api/v2/silence/{before.id}")
        except AlertmanagerError as exc:
            self._audit(entry, "refused", str(exc))
            raise
        self._audit(entry, "applied", "ok", done=f"silence {before.id} was expired")
        return before

    # ---- plumbing -------------------------------------------------------------------------------
    def _refuse_if_readonly(self) -> None:
        if self.audit is None:
            raise AlertmanagerError("this client has no audit log: it may read, not change, silences", "refused")
        if self.readonly:
            raise AlertmanagerError("read-only mode: silences cannot be changed (--readonly)", "refused")

    def _check_id(self, silence_id: str) -> str:
        text = str(silence_id).strip()
        try:
            return str(uuid.UUID(text))
        except ValueError:
            raise AlertmanagerError(f"no silence {text!r}: a silence id is a UUID "
                                    "(e.g. 3f8bd1a3-5b1e-4c2e-9d1a-2f0c6b1e9a77; `llmctl silence list`)",
                                    "not-found") from None

    def _audit(self, entry: dict[str, Any], mode: str, result: str, done: str | None = None) -> None:
        if self.audit is None:  # refused before anything was sent (_refuse_if_readonly)
            return
        try:
            self.audit.append(audit_entry(entry, mode, result, server=self.where))
        except AuditError as exc:
            prefix = f"{done}, but " if done else ""
            raise AlertmanagerError(f"{prefix}{exc}", "audit") from None

    def _request(self, method: str, path: str, *, query: Mapping[str, str] | None = None,
                 body: Any = None) -> Any:
        try:
            resp = self._http.request(method, path, params=query, json_body=body)
            return resp.json() if resp.body.strip() else None
        except HttpError as exc:
            if exc.kind == "status":
                if exc.status in (401, 403):
                    raise AlertmanagerError(f"{self.source} refused the request (HTTP {exc.status}): check "
                                            "alertmanager_token / alertmanager_username", "refused") from None
                kind: ErrorKind = "invalid" if exc.status in (400, 422) else "not-found" if exc.status == 404 \
                    else "http"
                raise AlertmanagerError(str(exc), kind) from None  # "Alertmanager at URL answered HTTP 400: ..."
            if exc.kind == "answer":
                raise AlertmanagerError(f"unexpected answer from {self.source}: not JSON", "http") from None
            raise AlertmanagerError(str(exc), "unreachable") from None  # "Alertmanager unreachable at URL: ..."


def audit_entry(entry: Mapping[str, Any], mode: str, result: str, *, server: str | None,
                context: str | None = None) -> dict[str, Any]:
    """An audit-log line for a silence change (``entry``: action, target, before, after, user), as the client
    writes them; the console uses it for the changes it refuses itself (read-only mode, a viewer context)."""
    return {"context": context, "user": entry.get("user") or _user(), "server": server,
            **{k: v for k, v in entry.items() if k != "user"}, "mode": mode, "result": result}


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
