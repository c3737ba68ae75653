"""A loopback OpenAI-compatible server that misbehaves on request.

The judged answer text carries a marker ``MODE=<mode>`` that tells the server how to answer:
``yes`` / ``no`` / ``safe`` / ``unsafe`` / ``maybe`` (200 with that text), ``e500`` (always 500),
``flaky500`` (500 once, then yes), ``r429`` (429 + Retry-After: 1 once, then yes), ``hang`` (sleeps
past the client timeout), ``trunc`` (Content-Length larger than the body, then close), ``garbage``
(200, not JSON), ``drip`` (one byte every 20 ms, 8 s in all), ``nochoices`` (200, JSON without choices), ``slow`` (0.15 s, then yes), ``auth`` (401).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: Counter = Counter()  # (mode, text) -> requests
        self.times: dict[str, list[float]] = {}
        self.auth: list[str | None] = []
        self.bodies: list[dict] = []
        self.n = 0


def _handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a: object) -> None:  # keep pytest output clean
            pass

        def _send(self, code: int, body: bytes, headers: dict | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _answer(self, text: str) -> None:
            self._send(200, json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode())

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            text = body["messages"][-1]["content"]
            if isinstance(text, list):  # content parts (the vision guards' form)
                text = "".join(p.get("text", "") for p in text)
            m = re.search(r"MODE=(\w+)", text)
            mode = m.group(1) if m else "no"
            with state.lock:
                state.n += 1
                state.seen[(mode, text)] += 1
                count = state.seen[(mode, text)]
                state.times.setdefault(text, []).append(time.monotonic())
                state.auth.append(self.headers.get("Authorization"))
                state.bodies.append(body)
            if mode in ("yes", "no", "safe", "unsafe", "maybe"):
                self._answer({"maybe": "Perhaps, it depends."}.get(mode, mode.capitalize()))
            elif mode == "e500":
                self._send(500, b'{"error": "boom"}')
            elif mode == "flaky500":
                self._send(500, b"{}") if count == 1 else self._answer("yes")
            elif mode == "r429":
                self._send(429, b"{}", {"Retry-After": "1"}) if count == 1 else self._answer("yes")
            elif mode == "hang":
                time.sleep(1.5)
                self._answer("yes")
            elif mode == "trunc":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "500")
                self.end_headers()
                self.wfile.write(b'{"choices": [{"mess')
                self.wfile.flush()
                self.close_connection = True
            elif mode == "drip":  # valid headers, then one byte at a time: never finishes in time
                self.send_response(200)
                self.send_header("Content-Length", "400")
                self.end_headers()
                for _ in range(400):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.02)
            elif mode == "garbage":
                self._send(200, b"<html>not json{")
            elif mode == "nochoices":
                self._send(200, b'{"object": "chat.completion", "choices": []}')
            elif mode == "slow":
                time.sleep(0.15)
                self._answer("yes")
            elif mode == "auth":
                self._send(401, b'{"error": "bad key"}')
            else:
                self._send(400, b"{}")

    return H


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # a client that timed out closed the pipe
        pass


@pytest.fixture
def llm_server():
    """Yields (base_url, state); the server runs in a thread on 127.0.0.1."""
    state = _State()
    srv = _Server(("127.0.0.1", 0), _handler(state))
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/v1", state
    finally:
        srv.shutdown()
        srv.server_close()
