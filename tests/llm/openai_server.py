"""Test helper: a fault-injecting proxy in front of a real OpenAI-compatible server."""

from __future__ import annotations

import http.client
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class JSONHandler(BaseHTTPRequestHandler):
    """A quiet request handler with one way to answer: ``_send(status, json_bytes)``."""

    def _send(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class FaultProxy:
    """Forwards POSTs to ``upstream_port``; can answer the first ``fail_first`` with HTTP 500 or delay the first
    ``delay_first`` by ``delay_s``; records forwarded bodies and the most requests in flight at once."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.fail_first = 0
        self.delay_first = 0
        self.delay_s = 0.0
        self.seen = 0
        self.forwarded: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(JSONHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with proxy.lock:
                    proxy.seen += 1
                    n = proxy.seen
                    proxy.in_flight += 1
                    proxy.max_in_flight = max(proxy.max_in_flight, proxy.in_flight)
                try:
                    if n <= proxy.fail_first:
                        return self._send(500, b'{"error": {"message": "injected failure", "type": "server_error"}}')
                    if n <= proxy.delay_first:
                        time.sleep(proxy.delay_s)
                    conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=600)
                    conn.request("POST", self.path, body, {"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    data = resp.read()
                    if resp.status == 200:
                        with proxy.lock:
                            proxy.forwarded.append(json.loads(body))
                    self._send(resp.status, data)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with proxy.lock:
                        proxy.in_flight -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def reset(self) -> None:
        with self.lock:
            self.fail_first = self.delay_first = self.seen = self.max_in_flight = 0
            self.forwarded = []

    def close(self) -> None:
        self.server.shutdown()
