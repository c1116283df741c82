"""``llmctl status -o json`` against its floor: the same objects read with one plain (unpaged) LIST each and decoded
with ``json.loads``, in a fresh Python process as well — on the large scenario at 10,000 and 20,000 pods (#16's
goal: ≤ 1.3× the floor's CPU and ≤ 1.5× its wall time). Prints figures; asserts nothing about time."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest
import yaml

from tests.bench.processes import child, sandbox_process

pytestmark = pytest.mark.bench

# One plain LIST per resource `llmctl status` reads: every node, every pod (its GPU index is cluster-wide), and the
# namespace's Deployments, ReplicaSets, pods, HPAs and events.
FLOOR = r"""
import json, ssl, sys, urllib.request
server, token, ca, ns = sys.argv[1:5]
tls = ssl.create_default_context(cadata=ca)
for path in ("/api/v1/nodes", "/api/v1/pods", f"/apis/apps/v1/namespaces/{ns}/deployments",
             f"/apis/apps/v1/namespaces/{ns}/replicasets", f"/api/v1/namespaces/{ns}/pods",
             f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers", f"/api/v1/namespaces/{ns}/events"):
    req = urllib.request.Request(server + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, context=tls, timeout=120) as resp:
        json.loads(resp.read())
"""


@pytest.mark.parametrize("nodes", [250, 500], ids=["10k-pods", "20k-pods"])
def test_status_against_plain_lists(nodes: int) -> None:
    gen = sandbox_process("--scenario", "large", "--nodes", str(nodes))
    kubeconfig = next(gen)
    try:
        doc = yaml.safe_load(Path(kubeconfig).read_text())
        context = next(c["context"] for c in doc["contexts"] if c["name"] == doc["current-context"])
        cluster = next(c["cluster"] for c in doc["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in doc["users"] if u["name"] == context["user"])
        ns = "llm-prod"
        ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
        floor = child([sys.executable, "-c", FLOOR, cluster["server"], user["token"], ca, ns], repeat=3)
        status = child([sys.executable, "-m", "console", "--kubeconfig", kubeconfig, "-n", ns, "status", "-o",
                         "json"], repeat=3)
    finally:
        gen.close()
    print(f"\n{nodes} nodes (~{nodes * 40:,} pods): plain LISTs + json.loads CPU {floor[0]:.2f} s, "
          f"wall {floor[1]:.2f} s; llmctl status -o json CPU {status[0]:.2f} s, wall {status[1]:.2f} s → "
          f"{status[0] / floor[0]:.2f}× CPU, {status[1] / floor[1]:.2f}× wall")
