"""console.kube.logs: the since window (sinceSeconds) and saving lines to a file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from console.kube import logs
from console.kube.transport import KubeTransport
from console.sandbox.server import SandboxThread
from tests.actions.conftest import ADMIN, NS


def test_since_cycles_all_5m_15m_1h_6h_all() -> None:
    seen, since = [], None
    for _ in range(6):
        since = logs.next_since(since)
        seen.append(logs.since_label(since))
    assert seen == ["5m", "15m", "1h", "6h", "all", "5m"]
    assert logs.next_since(42) is None  # a window not in the cycle starts it again
    assert logs.since_label(90) == "90s" and logs.since_label(7200) == "2h"


async def test_since_is_sent_as_since_seconds_and_checked(sandbox: SandboxThread) -> None:
    transport = await KubeTransport.connect(sandbox.info.kubeconfig, ADMIN)
    try:
        pods = (await transport.get(f"/api/v1/namespaces/{NS}/pods", [("labelSelector", "app=claude")]))["items"]
        pod = pods[0]["metadata"]["name"]
        sent: list[list[tuple[str, object]]] = []
        real = transport.stream_text

        def recording(path: str, query: list[tuple[str, object]], *args: object) -> object:
            sent.append(list(query))
            return real(path, query, *args)

        transport.stream_text = recording  # type: ignore[method-assign]
        everything = await logs.read(transport, NS, pod, lines=None)
        assert await logs.read(transport, NS, pod, lines=None, since=3600) == everything  # all written just now
        assert ("sinceSeconds", 3600) in sent[-1] and not any(k == "sinceSeconds" for k, _ in sent[0])
        for bad in (0, -5):
            with pytest.raises(logs.LogError, match=f"sinceSeconds: Invalid value: {bad}: must be greater than 0"):
                await logs.read(transport, NS, pod, since=bad)
        assert len(sent) == 2  # refused before any request
    finally:
        await transport.close()


def test_save_is_0600_plain_and_never_overwrites_unasked(tmp_path: Path) -> None:
    path = tmp_path / "pod.log"
    assert logs.save(str(path), ["\x1b[1;31mboom\x1b[0m", "plain \x1b]0;title\x07line", ""]) == str(path)
    assert path.read_text() == "boom\nplain line\n\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        logs.save(str(path), ["other"])
    assert path.read_text() == "boom\nplain line\n\n"
    path.chmod(0o644)
    logs.save(str(path), ["other"], overwrite=True)
    assert path.read_text() == "other\n" and stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(IsADirectoryError):
        logs.save(str(tmp_path), ["x"], overwrite=True)
    with pytest.raises(FileNotFoundError):
        logs.save(str(tmp_path / "missing" / "x.log"), ["x"])
