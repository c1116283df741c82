"""The deploy engine's last two steps: follow the rollout (verdicts, pods, FailedScheduling reasons, cold
starts) and verify (pods Ready, metrics arriving, alert rules loaded). Mixed into DeployEngine."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from console.core.rollout import rollout_verdict
from console.deploy.checks import Check, Status
from console.deploy.render import Rendered, alert_groups
from console.deploy.reports import PodReport, RolloutReport, VerifyReport
from console.deploy.values.schema import Values
from console.kube.errors import KubeError
from console.kube.pods import cold_start_seconds, pod_status, pod_why

POLL_S = 0.5


class RolloutSteps:
    """``rollout_snapshot``/``watch``/``verify`` over the engine's transport (``self.transport``, ``self._list``,
    ``self.metrics``, ``self.rules``, ``self._deploy_error`` come from DeployEngine)."""

    transport: Any
    metrics: Any
    rules: Callable[[], Any] | None

    # ---- rollout --------------------------------------------------------------------------------------
    async def rollout_snapshot(self, rendered: Rendered) -> RolloutReport:
        """The Deployments' verdicts and their pods, once."""
        ns = rendered.values.namespace
        verdicts, pods, scheduling = [], [], []
        for obj in rendered.by_kind("Deployment"):
            try:
                live = await self.transport.get(obj.path())
            except KubeError as exc:
                raise self._deploy_error(exc, "get", obj) from None
            verdicts.append((obj.name, rollout_verdict(live)))
            labels = ((live.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            selector = ",".join(f"{k}={v}" for k, v in labels.items())
            try:
                listed = await self._list(f"/api/v1/namespaces/{ns}/pods", [("labelSelector", selector)])
            except KubeError:
                listed = []
            for pod in sorted(listed, key=lambda p: p["metadata"]["name"]):
                if (pod.get("metadata") or {}).get("deletionTimestamp"):
                    continue
                status, ready, _, _ = pod_status(pod)
                why = pod_why(pod)
                conditions = (pod.get("status") or {}).get("conditions") or []
                unschedulable = any(c.get("type") == "PodScheduled" and c.get("status") == "False" for c in conditions)
                if unschedulable and why and why not in scheduling:
                    scheduling.append(why)
                total = len((pod.get("spec") or {}).get("containers") or [])
                pods.append(PodReport(obj.name, pod["metadata"]["name"], status, ready == total and total > 0,
                                      (pod.get("spec") or {}).get("nodeName") or "", cold_start_seconds(pod), why))
        return RolloutReport(tuple(verdicts), tuple(pods), tuple(scheduling))

    async def watch(self, rendered: Rendered, timeout: float = 600.0,
                    on_update: Callable[[RolloutReport], None] | None = None) -> RolloutReport:
        """Follow the rollout until every Deployment is rolled out, one fails, or ``timeout`` seconds pass."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last: RolloutReport | None = None
        while True:
            report = await self.rollout_snapshot(rendered)
            if report != last and on_update is not None:
                on_update(report)
            last = report
            if report.done or report.failed:
                return report
            if loop.time() >= deadline:
                return RolloutReport(report.verdicts, report.pods, report.scheduling, timed_out=True)
            await asyncio.sleep(POLL_S)

    # ---- verify ---------------------------------------------------------------------------------------
    async def verify(self, rendered: Rendered, timeout: float = 60.0) -> VerifyReport:
        values = rendered.values
        checks = [await self._pods_ready(rendered)]
        checks.append(await self._metrics_check(values, timeout))
        checks.append(await self._rules_check(rendered))
        return VerifyReport(tuple(checks))

    async def _pods_ready(self, rendered: Rendered) -> Check:
        snap = await self.rollout_snapshot(rendered)
        short = []
        for name, verdict in snap.verdicts:
            pods = [p for p in snap.pods if p.deployment == name]
            ready = sum(p.ready for p in pods)
            if not verdict.done:
                short.append(f"{name}: {verdict.message}")
            elif pods and ready < len(pods):
                short.append(f"{name}: {ready}/{len(pods)} pods Ready")
        if short:
            return Check("pods-ready", Status.FAIL, "; ".join(short))
        starts = [p.cold_start_s for p in snap.pods if p.cold_start_s is not None]
        tail = f"; cold start {min(starts):.0f}–{max(starts):.0f} s" if starts else ""
        return Check("pods-ready", Status.OK, f"{sum(p.ready for p in snap.pods)} pods Ready in "
                                              f"{len(snap.verdicts)} Deployment(s){tail}")

    async def _metrics_check(self, values: Values, timeout: float) -> Check:
        if self.metrics is None:
            return Check("metrics", Status.SKIP, "no metrics source: give --prometheus URL (or run on --sandbox) to "
                                                 "check that metrics arrive")
        serving = [d for d in values.deployments() if not d.endswith("-router")]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        why = ""
        while True:
            result = await asyncio.to_thread(self.metrics.serving, values.namespace)
            rows = {r.deployment: r for r in (result.value or ())}
            have = [d for d in serving if d in rows and (rows[d].pods or 0) > 0]
            if len(have) == len(serving):
                source = getattr(self.metrics, "source", "metrics")
                figures = "; ".join(f"{d}: {rows[d].pods:.0f} pods" + (f", {rows[d].qps:.1f} QPS" if rows[d].qps
                                                                        is not None else "")
                                    for d in serving)
                return Check("metrics", Status.OK, f"metrics arriving from {source}: {figures}")
            why = result.error.message if result.error else f"no serving metrics yet for " \
                f"{', '.join(d for d in serving if d not in have)}"
            if loop.time() >= deadline:
                return Check("metrics", Status.FAIL, f"after {timeout:g}s: {why}",
                             "check that Prometheus picks up the ServiceMonitor (its serviceMonitorSelector must "
                             f"match labels {values.monitoring.labels}) and that the pods serve /metrics")
            await asyncio.sleep(1.0)

    async def _rules_check(self, rendered: Rendered) -> Check:
        values = rendered.values
        if not values.monitoring.prometheus_rule:
            return Check("alert-rules", Status.SKIP, "monitoring.prometheusRule is false")
        wanted = alert_groups(values)
        if self.rules is None:
            obj = rendered.by_kind("PrometheusRule")[0]
            try:
                await self.transport.get(obj.path())
            except KubeError as exc:
                return Check("alert-rules", Status.FAIL, f"{obj.ref}: {exc.message}")
            return Check("alert-rules", Status.SKIP, f"{obj.ref} exists; no Prometheus given (--prometheus URL) to "
                                                     "check it is loaded")
        try:
            doc = await asyncio.to_thread(self.rules)
        except Exception as exc:  # an unreachable Prometheus, bad JSON: say why, do not fail the deploy on it
            return Check("alert-rules", Status.WARN, f"could not read Prometheus's rules: {exc}")
        groups = {g.get("name") for g in ((doc.get("data") or {}).get("groups") or [])}
        missing = [g for g in wanted if g not in groups]
        if missing:
            return Check("alert-rules", Status.FAIL, f"Prometheus has not loaded rule groups {', '.join(missing)}",
                         f"check that its ruleSelector matches labels {values.monitoring.labels}")
        return Check("alert-rules", Status.OK, f"Prometheus has loaded {', '.join(wanted)}")
