"""Another operator writing through the API server, in a process of its own, so that its TLS handshakes and JSON
are not counted as the console's CPU nor compete with it for the GIL (the benchmarks print the console's figures).

Run as ``python -m tests.bench.writer KUBECONFIG``; it reads commands from stdin, one a line, and answers each with
one line (``ok`` or ``error: ...``):

- ``namespace NS`` — create the namespace (there already is fine);
- ``create NS NAME`` / ``delete NS NAME`` — one pod;
- ``churn NS`` — from now on create and delete pods ``churn-0..4`` in NS every 50 ms, until ``stop``.

:class:`Writer` is the benchmarks' side of it.
"""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


class Api:
    """Writes through the API server with the sandbox's admin token (a plain HTTPS client)."""

    def __init__(self, kubeconfig: str) -> None:
        doc = yaml.safe_load(Path(kubeconfig).read_text())
        cluster = doc["clusters"][0]["cluster"]
        self.server = cluster["server"]
        self.tls = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        self.token = next(u["user"]["token"] for u in doc["users"] if u["name"] == "sandbox-admin")

    def call(self, method: str, path: str, body: Any = None) -> Any:
        req = urllib.request.Request(self.server + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60, context=self.tls) as resp:
            return json.loads(resp.read())

    def create_namespace(self, name: str) -> None:
        try:
            self.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": {"name": name}})
        except urllib.error.HTTPError as exc:
            if exc.code != 409:  # there already
                raise

    def create_pod(self, ns: str, name: str) -> None:
        self.call("POST", f"/api/v1/namespaces/{ns}/pods", {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "c", "image": "registry.local/llm/claude-router:v1.0.0"}]}})

    def delete_pod(self, ns: str, name: str) -> None:
        try:
            self.call("DELETE", f"/api/v1/namespaces/{ns}/pods/{name}?gracePeriodSeconds=0")
        except urllib.error.HTTPError as exc:
            if exc.code != 404:  # gone already
                raise


def _churn(api: Api, ns: str, stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        name = f"churn-{n % 5}"
        try:
            api.create_pod(ns, name) if n % 10 < 5 else api.delete_pod(ns, name)
        except OSError:  # HTTP errors included: a pod there already / gone already
            pass
        n += 1
        time.sleep(0.05)


def main(kubeconfig: str) -> None:
    api = Api(kubeconfig)
    stop = threading.Event()
    churner: threading.Thread | None = None
    for line in sys.stdin:
        command, *args = line.split()
        try:
            if command == "namespace":
                api.create_namespace(*args)
            elif command == "create":
                api.create_pod(*args)
            elif command == "delete":
                api.delete_pod(*args)
            elif command == "churn":
                stop.clear()
                churner = threading.Thread(target=_churn, args=(api, args[0], stop), daemon=True)
                churner.start()
            elif command == "stop" and churner is not None:
                stop.set()
                churner.join(10)
            answer = "ok"
        except Exception as exc:  # told to the benchmark, which fails with it
            answer = f"error: {command} {' '.join(args)}: {exc}"
        print(answer, flush=True)


class Writer:
    """The writer process, driven from a benchmark (one command at a time; thread-safe)."""

    def __init__(self, kubeconfig: str) -> None:
        self._proc = subprocess.Popen([sys.executable, "-m", "tests.bench.writer", kubeconfig], cwd=ROOT, text=True,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._lock = threading.Lock()

    def __call__(self, *command: str) -> None:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        with self._lock:
            self._proc.stdin.write(" ".join(command) + "\n")
            self._proc.stdin.flush()
            answer = self._proc.stdout.readline().strip()
        if answer != "ok":
            raise RuntimeError(answer or "the writer process ended")

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._proc.wait(timeout=30)


if __name__ == "__main__":
    main(sys.argv[1])
