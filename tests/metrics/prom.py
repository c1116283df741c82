"""A real Prometheus (Debian package ``prometheus``) on 127.0.0.1, started and stopped by the tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape_config(targets: dict[str, str], interval: str = "1s") -> str:
    """A prometheus.yml scraping each ``job → http://host:port/metrics`` URL every ``interval``."""
    jobs = "".join(
        f"  - job_name: {job}\n    metrics_path: {urlparse(url).path or '/metrics'}\n"
        f"    static_configs: [{{targets: ['{urlparse(url).netloc}']}}]\n"
        for job, url in targets.items())
    return (f"global:\n  scrape_interval: {interval}\n  scrape_timeout: {interval}\n"
            f"  evaluation_interval: {interval}\nscrape_configs:\n{jobs}")


class ServerProcess:
    """A server binary in its own session (its log in ``workdir``), ready when ``GET /-/ready`` answers 200;
    :meth:`stop` sends SIGTERM to its process group (SIGKILL after 10 s). Subclasses give :meth:`command`."""

    name = "server"

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 15.0) -> None:
        log_path = self.workdir / f"{self.name}.log"
        log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
        self._proc = subprocess.Popen(self.command(), stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"{self.name} did not become ready")

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait(5)
        self._proc = None


class PrometheusServer(ServerProcess):
    """``prometheus`` with a temp config and TSDB; :meth:`stop` / :meth:`start` keep both, so a restart comes
    back on the same port with its data, as a restarted server does."""

    name = "prometheus"

    def __init__(self, binary: str, workdir: Path, targets: dict[str, str], interval: str = "1s") -> None:
        super().__init__(binary, workdir)
        self.config = workdir / "prometheus.yml"
        self.config.write_text(scrape_config(targets, interval))

    def command(self) -> list[str]:
        return [self.binary, f"--config.file={self.config}", f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-lifecycle"]

    def requests_served(self, *handlers: str) -> float:
        """Prometheus's own count of API requests by handler (from its /metrics; it need not scrape itself)."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith("prometheus_http_requests_total{") and any(f'handler="{h}"' in line for h in handlers):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def wait_for_series(self, query: str, timeout: float = 30.0) -> None:
        """Wait until an instant query returns at least one series (scrapes and rates need a few seconds)."""
        import json
        from urllib.parse import urlencode

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"{self.url}/api/v1/query?{urlencode({'query': query})}", timeout=5) as r:
                if json.loads(r.read())["data"]["result"]:
                    return
            time.sleep(0.25)
        raise TimeoutError(f"no data for {query}")
