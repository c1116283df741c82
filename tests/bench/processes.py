"""What the benchmarks share: a sandbox in a process of its own (so the console's figures are its own) and the CPU and
wall time of a command run as a child process."""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def sandbox_process(*args: str) -> Iterator[str]:
    """``llmctl sandbox ARGS`` in its own process until the generator is closed; yields its kubeconfig."""
    folder = tempfile.mkdtemp(prefix="llmctl-bench-")
    kubeconfig = str(Path(folder) / "kubeconfig")
    proc = subprocess.Popen([sys.executable, "-m", "console", "sandbox", "--kubeconfig", kubeconfig, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("{") and json.loads(line).get("event") == "ready":
                break
        yield kubeconfig
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def child(cmd: list[str], repeat: int = 5) -> tuple[float, float]:
    """(CPU s, wall s) of a command, medians."""
    cpus, walls = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, cwd=ROOT, timeout=120, check=False)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(cpus), statistics.median(walls)
