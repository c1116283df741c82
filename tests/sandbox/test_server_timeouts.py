"""Connection limits over raw sockets: a client that sends its headers too slowly, or never finishes
them, is dropped after the timeout (slowloris); an idle keep-alive connection is closed after it; a
watch that runs longer than the timeout is not cut."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from console.sandbox.context import SandboxConfig

from .conftest import DEPLOY, NS, ApiServer, seed
from .test_api_watch import relabel

TIMEOUT = 1.0


@pytest.fixture
def server() -> Iterator[ApiServer]:
    srv = ApiServer(SandboxConfig(idle_timeout=TIMEOUT, bookmark_interval=0.3)).start()
    srv.call(seed, srv.ctx)
    try:
        yield srv
    finally:
        srv.stop()


def connect(server: ApiServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), timeout=10)
    return sock


def closed_within(sock: socket.socket, limit: float) -> float:
    """Seconds until the server closes ``sock`` (reading and discarding what it sends); fails after ``limit``."""
    started = time.monotonic()
    sock.settimeout(limit)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for more than {limit} s")
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def test_a_partial_request_line_is_dropped_after_the_timeout(server: ApiServer) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /heal")
        took = closed_within(sock, TIMEOUT + 3)
    assert took < TIMEOUT + 2


def test_headers_that_never_finish_are_dropped_even_if_bytes_keep_coming(server: ApiServer) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        try:
            for i in range(40):  # a header byte every 0.1 s: never complete, never silent
                sock.sendall(b"X-Slow: %d\r\n" % i)
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        took = time.monotonic() - started
        remaining = closed_within(sock, TIMEOUT + 3)
    assert took + remaining < TIMEOUT + 2


def test_an_idle_keep_alive_connection_is_closed(server: ApiServer) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        took = closed_within(sock, TIMEOUT + 3)
    assert took < TIMEOUT + 2


def test_a_connection_in_use_is_kept(server: ApiServer) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        for _ in range(4):  # requests closer together than the timeout, on one connection
            conn.request("GET", "/healthz")
            assert conn.getresponse().read() == b"ok"
            time.sleep(TIMEOUT / 2)
        sock = conn.sock
        conn.request("GET", "/healthz")
        assert conn.getresponse().read() == b"ok"
        assert conn.sock is sock, "the connection was not reused"
    finally:
        conn.close()


def test_a_watch_outlives_the_timeout(server: ApiServer) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    rv = server.call(lambda: server.ctx.store.resource_version)
    conn.request("GET", f"/api/v1/namespaces/{NS}/pods?watch=true&resourceVersion={rv}",
                 headers={"Authorization": f"Bearer {server.auth.admin_token}"})
    resp = conn.getresponse()
    assert resp.status == 200
    timer = threading.Timer(3 * TIMEOUT, relabel, (server, f"{DEPLOY}-a", "late"))
    timer.start()
    try:
        line = resp.readline()
        event = json.loads(line)
        assert event["type"] == "MODIFIED" and event["object"]["metadata"]["labels"]["touched"] == "late"
    finally:
        timer.join()
        conn.close()
