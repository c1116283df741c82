"""Sandbox figures at scale (printed, not asserted): LIST of 10,000 pods and watch events per second.

Run with ``./dev bench``.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.request
from typing import Any

import pytest

from console.sandbox.faultcli import kubeconfig_credentials
from tests.conftest import start_sandbox

pytestmark = pytest.mark.bench


TLS: ssl.SSLContext | None = None


def _auth(kubeconfig: str) -> tuple[str, str]:
    global TLS
    server, token, TLS = kubeconfig_credentials(kubeconfig, "sandbox-admin")
    return server, token


def _open(url: str, token: str, timeout: float = 60) -> Any:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    return urllib.request.urlopen(req, timeout=timeout, context=TLS)


def _get(url: str, token: str) -> bytes:
    with _open(url, token) as resp:
        return resp.read()


def test_list_and_watch_figures() -> None:
    t0 = time.perf_counter()
    sandbox = start_sandbox(scenario="large", speed=1.0)
    startup = time.perf_counter() - t0
    try:
        server, token = _auth(sandbox.info.kubeconfig)
        times, size, count = [], 0, 0
        for _ in range(5):
            t = time.perf_counter()
            body = _get(f"{server}/api/v1/pods", token)
            times.append(time.perf_counter() - t)
            size, count = len(body), len(json.loads(body)["items"])
        from kubernetes import client, config

        config.load_kube_config(sandbox.info.kubeconfig)
        core = client.CoreV1Api()
        t = time.perf_counter()
        typed = core.list_pod_for_all_namespaces()
        typed_s = time.perf_counter() - t

        # Watch throughput: replay of every pod as ADDED, then live changes.
        t = time.perf_counter()
        seen = 0
        with _open(f"{server}/api/v1/pods?watch=true&timeoutSeconds=30", token) as resp:
            for _line in resp:
                seen += 1
                if seen >= count:
                    break
        replay_s = time.perf_counter() - t

        rv = json.loads(_get(f"{server}/api/v1/namespaces/default/configmaps?limit=1", token))["metadata"][
            "resourceVersion"]
        n_changes = 2000
        received = 0
        done = threading.Event()

        def watch() -> None:
            nonlocal received
            with _open(f"{server}/api/v1/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=60",
                       token) as resp:
                for _line in resp:
                    received += 1
                    if received >= n_changes:
                        break
            done.set()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        time.sleep(0.3)

        def make() -> None:
            for i in range(n_changes):
                sandbox.ctx.store.create("configmaps", {"metadata": {"name": f"bench-{i}", "namespace": "default"},
                                                        "data": {"i": str(i)}})

        t = time.perf_counter()
        sandbox.call(make, timeout=60)
        done.wait(60)
        live_s = time.perf_counter() - t
    finally:
        sandbox.stop()
    print(f"\nsandbox large scenario: start-up {startup:.2f} s")
    print(f"LIST /api/v1/pods: {count} pods, {size / 1e6:.1f} MB, "
          f"best {min(times) * 1000:.0f} ms, median {sorted(times)[2] * 1000:.0f} ms (raw JSON over HTTP)")
    print(f"LIST via kubernetes client (typed models): {len(typed.items)} pods in {typed_s:.2f} s")
    print(f"watch replay: {seen} events in {replay_s:.2f} s = {seen / replay_s:,.0f} events/s")
    print(f"watch live: {received} of {n_changes} changes delivered in {live_s:.2f} s = "
          f"{received / live_s:,.0f} events/s")
