"""The one way llmctl reads Prometheus: its HTTP API through prometheus-api-client (``PrometheusConnect``, no
extras, so no pandas).

:class:`PrometheusClient` answers instant and range queries, label names and values, and the reads the
client does not wrap — ``/api/v1/alerts``, ``/api/v1/rules``, ``/api/v1/status/config`` — through the same
``PrometheusConnect`` session, URL and headers. Every request has a timeout (5 s) and no retries (the
client's defaults retry for ~6 s on a dead port). Credentials (bearer token, basic auth, or a
``user:password@`` in the URL) only go into request headers, never into messages, reprs or logs; TLS is
verified against the system's CAs unless the user asked for ``insecure`` (console/http.py's session rules).

What goes wrong is a :class:`PrometheusError` whose message a person can act on and names the server
without credentials: ``Prometheus unreachable at URL: [Errno 111] Connection refused`` (or ``timed out``),
``Prometheus at URL refused the request (HTTP 401): check prometheus_token / prometheus_username``,
``Prometheus at URL answered HTTP 400: <Prometheus's own message>``, ``unexpected answer from Prometheus at
URL: ...``. Users: the metrics service (console/metrics/service.py), the built-in rules' "which alert rules
does Prometheus define", the alerts panel and ``llmctl alerts``, the deploy engine's rules check, and the
incident snapshot's ``ALERTS`` history.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from console.http import api_message, auth_header, new_session, public_url, reason_of, split_credentials

TIMEOUT_S = 5.0
ErrorKind = Literal["unreachable", "refused", "http", "answer"]
_STATUS = re.compile(r"^HTTP Status Code (\d+) \((.*)\)$", re.DOTALL)


class PrometheusError(ValueError):
    """A Prometheus read that failed; the message is safe to show (no credentials).

    ``kind``: ``unreachable`` (refused, DNS, TLS, timed out), ``refused`` (HTTP 401/403), ``http`` (another
    status that is not 200; ``status`` and ``detail``, Prometheus's own message, are set), ``answer`` (not
    JSON, or not of the expected shape; ``detail`` says which). ``reason``: the cause without the server's
    name (``timed out``, ``[Errno 111] Connection refused``, ``HTTP 503: ...``), for callers that name the
    server themselves."""

    def __init__(self, message: str, kind: ErrorKind, where: str, reason: str, *, status: int | None = None,
                 detail: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.where = where
        self.reason = reason
        self.status = status
        self.detail = detail


class PrometheusClient:
    """Prometheus's HTTP API at ``url`` (see the module docstring). Thread-safe for reads; :meth:`close`
    (or ``with``) releases its connections."""

    def __init__(self, url: str, *, token: str | None = None, username: str | None = None,
                 password: str | None = None, headers: Mapping[str, str] | None = None, insecure: bool = False,
                 ca_file: str | None = None, timeout: float = TIMEOUT_S) -> None:
        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry

        bare, url_user, url_password = split_credentials(url)
        self.url = bare
        self.where = public_url(bare)
        self.source = f"Prometheus at {self.where}"
        self.timeout = timeout
        sent = {**(headers or {}), **auth_header(token, username or url_user,
                                                 password if password is not None else url_password)}
        self._client = PrometheusConnect(bare, headers=sent or None, retry=Retry(total=0, read=False, redirect=False),
                                         session=new_session(insecure=insecure, ca_file=ca_file),
                                         timeout=timeout)  # type: ignore[arg-type]

    @classmethod
    def from_settings(cls, settings: Any, timeout: float = TIMEOUT_S) -> PrometheusClient:
        """A client for ``settings.prometheus_url`` (console.config.Settings) and its credentials."""
        return cls(settings.prometheus_url or "", token=settings.prometheus_token,
                   username=settings.prometheus_username, password=settings.prometheus_password,
                   insecure=settings.prometheus_insecure, timeout=timeout)

    def __repr__(self) -> str:
        return f"PrometheusClient({self.where!r})"

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # ---- the queries prometheus-api-client wraps ----------------------------------------------------------
    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query's result (``data.result``), at ``at`` (epoch seconds) or now."""
        params = {"time": at} if at is not None else None
        return self._call(lambda: list(self._client.custom_query(promql, params=params)))

    def query_range(self, promql: str, start: float, end: float, step: float | str) -> list[dict[str, Any]]:
        """A range query's result (``data.result``); ``start``/``end`` in epoch seconds (whole seconds are
        sent), ``step`` in seconds or a duration."""
        return self._call(lambda: list(self._client.custom_query_range(
            promql, datetime.fromtimestamp(start), datetime.fromtimestamp(end), str(step))))

    def label_values(self, label: str, match: str | None = None, start: float | None = None) -> list[str]:
        """The values of ``label`` (``__name__``: metric names), of series matching ``match`` since ``start``."""
        params = _series_params(match, start)
        return self._call(lambda: [str(v) for v in self._client.get_label_values(label, params=params) or ()])

    def label_names(self, match: str | None = None, start: float | None = None) -> list[str]:
        """The label names of series matching ``match`` since ``start``."""
        params = _series_params(match, start)
        return self._call(lambda: [str(v) for v in self._client.get_label_names(params=params) or ()])

    # ---- the reads it does not wrap (same session, URL and headers) ---------------------------------------
    def alerts(self) -> dict[str, Any]:
        """The ``/api/v1/alerts`` answer (``{"status": "success", "data": {"alerts": [...]}}``)."""
        return self.get("/api/v1/alerts")

    def rules(self, kind: str | None = None) -> dict[str, Any]:
        """The ``/api/v1/rules`` answer; ``kind`` ``alert`` or ``record`` keeps those only."""
        return self.get("/api/v1/rules", {"type": kind} if kind else None)

    def config_yaml(self) -> str:
        """The running configuration (``/api/v1/status/config``'s ``data.yaml``)."""
        doc = self.get("/api/v1/status/config")
        try:
            return str(doc["data"]["yaml"])
        except (KeyError, TypeError):
            raise self._answer("/api/v1/status/config: no data.yaml") from None

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``GET path`` under the base URL as a JSON object, through the client's session and headers."""
        client = self._client

        def read() -> dict[str, Any]:
            resp = client._session.request("GET", f"{client.url}{path}", params=params, headers=client.headers,
                                           verify=client._session.verify, timeout=self.timeout)
            if resp.status_code != 200:
                raise self._status(resp.status_code, resp.content)
            doc = resp.json()
            if not isinstance(doc, dict):
                raise self._answer(f"{path}: not a JSON object")
            return doc

        return self._call(read)

    # ---- errors -------------------------------------------------------------------------------------------
    def _call(self, read: Any) -> Any:
        """``read()``, every failure a :class:`PrometheusError` (raised without the request chained to it)."""
        import requests
        from prometheus_api_client import PrometheusApiClientException

        try:
            return read()
        except PrometheusError:
            raise
        except requests.JSONDecodeError:  # before RequestException: it is one
            raise self._answer("not JSON") from None
        except requests.RequestException as exc:
            reason = reason_of(exc)
            raise PrometheusError(f"Prometheus unreachable at {self.where}: {reason}", "unreachable", self.where,
                                  reason) from None
        except PrometheusApiClientException as exc:
            found = _STATUS.match(str(exc))
            if not found:
                raise self._answer(str(exc)[:200]) from None
            try:
                body = ast.literal_eval(found.group(2))
            except (ValueError, SyntaxError):
                body = b""
            raise self._status(int(found.group(1)), body if isinstance(body, bytes) else b"") from None
        except (KeyError, IndexError, TypeError, ValueError) as exc:  # an answer of an unexpected shape
            raise self._answer(f"{type(exc).__name__}") from None

    def _status(self, status: int, body: bytes) -> PrometheusError:
        detail = api_message(body) if body else ""
        if status in (401, 403):
            return PrometheusError(f"Prometheus at {self.where} refused the request (HTTP {status}): check "
                                   "prometheus_token / prometheus_username", "refused", self.where,
                                   f"HTTP {status}: check prometheus_token / prometheus_username", status=status,
                                   detail=detail)
        suffix = f": {detail}" if detail else ""
        return PrometheusError(f"Prometheus at {self.where} answered HTTP {status}{suffix}", "http", self.where,
                               f"HTTP {status}{suffix}", status=status, detail=detail)

    def _answer(self, what: str) -> PrometheusError:
        return PrometheusError(f"unexpected answer from Prometheus at {self.where} ({what})", "answer", self.where,
                               f"unexpected answer ({what})", detail=what)


def _series_params(match: str | None, start: float | None) -> dict[str, Any]:
    return {**({"match[]": match} if match else {}), **({"start": start} if start is not None else {})}


def prometheus_alerts(settings: Any, timeout: float = TIMEOUT_S) -> dict[str, Any]:
    """The configured Prometheus's ``/api/v1/alerts`` answer. Raises :class:`PrometheusError`."""
    with PrometheusClient.from_settings(settings, timeout) as prometheus:
        return prometheus.alerts()


def prometheus_rules(settings: Any, kind: str | None = None, timeout: float = TIMEOUT_S) -> dict[str, Any]:
    """The configured Prometheus's ``/api/v1/rules`` answer. Raises :class:`PrometheusError`."""
    with PrometheusClient.from_settings(settings, timeout) as prometheus:
        return prometheus.rules(kind)
