"""A stand-in Prometheus HTTP API with canned answers, for errors a real one will not produce on demand."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@contextmanager
def fake_prometheus(status: int = 200, names: list[str] | None = None, delay: float = 0.0
                    ) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Serve ``status`` (and, on 200, ``names`` for the label-values API) on 127.0.0.1; yields the URL and
    the requests seen (path and headers)."""
    seen: list[dict[str, Any]] = []
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({"path": self.path, "headers": dict(self.headers)})
            if delay:
                stop.wait(delay)
            data: Any = names or [] if "/label/" in self.path else []
            body = json.dumps({"status": "success" if status == 200 else "error", "data": data,
                               "error": "unauthorized" if status != 200 else None}).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up (the timeout test)
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
