"""A misbehaving OpenAI-compatible chat server on 127.0.0.1, for the judge-fault and key-leak tests.

The last message of a request carries ``MODE=<mode>``; the server answers in that mode:

- ``yes`` / ``no``: 200 with that answer (harmbench: yes = harmful = complied)
- ``e500``: always HTTP 500;  ``flaky``: 500 on the first try, then yes
- ``r429``: always 429 with ``Retry-After: 1``;  ``r429once``: 429 + Retry-After once, then yes
- ``hang``: answers after 2 s (past the client's timeout)
- ``trunc``: Content-Length 500 but 20 bytes, then the connection closes
- ``wrongjson``: 200, valid JSON without ``choices``;  ``garbage``: 200, not JSON at all
- ``drip``: 200 headers, then one byte every 50 ms (never finishes within the timeout)
- ``r302`` / ``r307`` / ``r303``: that redirect to ``state.redirect_to`` (another server's URL, set by the test)
- ``r307same``: 307 to this server's own URL with ``?hop=1``, which then answers yes
- ``trickle``: 200 headers, then the body one byte every 0.2 s (complete after ~20 s);  ``htrickle``: the
  status line and headers one byte every 0.2 s
- ``latin1``: 200, a chat completion whose bytes are not UTF-8;  ``close``: the connection closes unanswered
- ``r429date``: 429 with ``Retry-After`` as an HTTP date 2 s ahead, once, then yes
- ``e400``: 400 with an OpenAI-style ``{"error": {"message": ...}}`` explanation
- ``reasoning``: like a reasoning model: 400 while the body has ``max_tokens`` or ``temperature``, then yes
  with ``finish_reason`` "stop";  ``cut``: 200, finish_reason "length"
- ``SAY[text]`` (instead of a mode): 200 with exactly ``text`` as the answer (judge-parser tests)
- no marker: a fixed answer chosen by a hash of the text (deterministic; for crash trials)

Every request's headers and body are kept (``state.requests``) so a test can look for a leaked key.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["State", "serve"]


class State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.attempts: Counter = Counter()  # text -> requests
        self.times: dict[str, list[float]] = {}
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.methods: list[str] = []
        self.redirect_to = ""


def _handler(state: State) -> type[BaseHTTPRequestHandler]:
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a: object) -> None:
            pass

        def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _answer(self, text: str, finish: str | None = None) -> None:
            choice: dict = {"message": {"role": "assistant", "content": text}}
            if finish:
                choice["finish_reason"] = finish
            self._send(200, json.dumps({"choices": [choice]}).encode())

        def do_GET(self) -> None:  # noqa: N802 - a client that turned the POST into a GET
            with state.lock:
                state.methods.append("GET")
                state.requests.append((dict(self.headers.items()), b""))
            self._answer("Yes")

        def do_POST(self) -> None:  # noqa: N802
            with state.lock:
                state.methods.append("POST")
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            body = json.loads(raw)
            text = body["messages"][-1]["content"]
            if isinstance(text, list):  # openai generate backend: content parts
                text = " ".join(p.get("text", "") for p in text if isinstance(p, dict))
            m = re.search(r"MODE=(\w+)", text)
            mode = m.group(1) if m else None
            say = re.search(r"SAY\[(.*?)\]", text)
            with state.lock:
                state.attempts[text] += 1
                n = state.attempts[text]
                state.times.setdefault(text, []).append(time.monotonic())
                state.requests.append((dict(self.headers.items()), raw))
            if say:
                self._answer(say.group(1))
            elif mode in ("r302", "r303", "r307"):
                self._send(int(mode[1:]), b"{}", {"Location": state.redirect_to})
            elif mode == "r307same":
                if "hop=1" in self.path:
                    self._answer("Yes")
                else:
                    self._send(307, b"{}", {"Location": self.path + "?hop=1"})
            elif mode in ("trickle", "htrickle"):
                body = json.dumps({"choices": [{"message": {"content": "Yes"}}]}).encode()
                head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                        ).encode()
                if mode == "trickle":
                    self.wfile.write(head)
                for i, b in enumerate(head + body if mode == "htrickle" else body):
                    if i > 100:  # the client gave up long ago
                        break
                    self.wfile.write(bytes([b]))
                    self.wfile.flush()
                    time.sleep(0.2)
                self.close_connection = True
            elif mode == "latin1":
                self._send(200, '{"choices": [{"message": {"content": "Oui, caf\u00e9"}}]}'.encode("latin-1"))
            elif mode == "close":
                self.close_connection = True
                self.connection.shutdown(2)
            elif mode == "r429date" and n == 1:
                when = email.utils.formatdate(time.time() + 2, usegmt=True)
                self._send(429, b"{}", {"Retry-After": when})
            elif mode == "r429date":
                self._answer("Yes")
            elif mode == "e400":
                self._send(400, b'{"error": {"message": "Invalid value for \'messages\': it must be a list.", '
                                b'"type": "invalid_request_error"}}')
            elif mode == "reasoning":
                if "max_tokens" in body:
                    self._send(400, b'{"error": {"message": "Unsupported parameter: \'max_tokens\' is not supported '
                                    b'with this model. Use \'max_completion_tokens\' instead."}}')
                elif "temperature" in body:
                    self._send(400, b'{"error": {"message": "Unsupported value: \'temperature\' does not support 0 '
                                    b'with this model. Only the default (1) value is supported."}}')
                else:
                    self._answer("Yes", "stop")
            elif mode == "cut":
                self._answer("Yes, here is how: first", "length")
            elif mode is None:
                self._answer(["yes", "no"][hashlib.sha256(text.encode()).digest()[0] % 2])
            elif mode in ("yes", "no"):
                self._answer(mode.capitalize())
            elif mode == "e500" or (mode == "flaky" and n == 1):
                self._send(500, b'{"error": "boom"}')
            elif mode == "r429" or (mode == "r429once" and n == 1):
                self._send(429, b'{"error": "slow down"}', {"Retry-After": "1"})
            elif mode in ("flaky", "r429once"):
                self._answer("Yes")
            elif mode == "hang":
                time.sleep(2.0)
                self._answer("Yes")
            elif mode == "trunc":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "500")
                self.end_headers()
                self.wfile.write(b'{"choices": [{"mess')
                self.wfile.flush()
                self.close_connection = True
            elif mode == "wrongjson":
                self._send(200, b'{"object": "chat.completion", "result": "yes"}')
            elif mode == "garbage":
                self._send(200, b"<html>502 Bad Gateway</html>")
            elif mode == "drip":
                self.send_response(200)
                self.send_header("Content-Length", "200")
                self.end_headers()
                for _ in range(200):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.05)
            else:
                self._send(400, b"{}")

    return H


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up closed the socket; that is the point of these modes


@contextmanager
def serve() -> Iterator[tuple[str, State]]:
    """Yield (base URL ending in /v1, state) of a server on 127.0.0.1 (never another interface)."""
    state = State()
    srv = _Server(("127.0.0.1", 0), _handler(state))
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/v1", state
    finally:
        srv.shutdown()
        srv.server_close()
