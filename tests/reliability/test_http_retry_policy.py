"""One HTTP client, one retry policy (unmask.http.RetryPolicy) for the llm judges and the openai backend."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from unmask.http import CallFailed, ChatEndpoint, RetryPolicy


def test_the_schedule_doubles_with_jitter_and_is_capped():
    p = RetryPolicy()
    assert (p.retries, p.backoff, p.max_wait) == (4, 1.0, 120.0)
    assert [p.wait(k, 0.0) for k in range(4)] == [0.5, 1.0, 2.0, 4.0]  # jitter 0: half the backoff
    assert p.wait(2, 0.999) == pytest.approx(4 * 0.9995)  # jitter just under 1: (almost) the full backoff
    assert p.wait(0, 0.0, asked=7.0) == 7.0  # a longer Retry-After wins
    assert p.wait(3, 0.0, asked=0.1) == 4.0  # a shorter one does not
    assert p.wait(20, 0.5) == 120.0 and p.wait(0, 0.5, asked=3600) == 120.0  # never past max_wait


def test_both_callers_use_the_same_policy():
    from unmask.generate.config import GenerateConfig
    from unmask.generate.openai import OpenAIBackend
    from unmask.judges.http import ChatClient

    judge = ChatClient("http://127.0.0.1:9/v1", "m", retries=3)
    cfg = GenerateConfig(model="m", bench=".", out="o.jsonl", backend="openai", retries=3)
    backend = OpenAIBackend(cfg)
    try:
        assert judge.endpoint.retry == backend.endpoint.retry == RetryPolicy(retries=3)
    finally:
        backend.close()


class _Failing:
    """A loopback server answering 503 ``fails`` times, then a chat completion."""

    def __init__(self, fails: int) -> None:
        self.fails, self.times = fails, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers["Content-Length"]))
                outer.times.append(time.monotonic())
                if outer.fails > 0:
                    outer.fails -= 1
                    body, code = b'{"error": "busy"}', 503
                else:
                    body, code = json.dumps({"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}).encode(), 200
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}/v1"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.srv.shutdown()
        self.srv.server_close()


def test_retries_then_answers_and_waits_by_the_policy():
    srv = _Failing(2)
    try:
        ep = ChatEndpoint(srv.url, timeout=5, retry=RetryPolicy(retries=2, backoff=0.2))
        assert ep.chat({"model": "m", "messages": []}).content == "ok"
    finally:
        srv.close()
    gaps = [b - a for a, b in zip(srv.times, srv.times[1:], strict=False)]
    assert len(srv.times) == 3
    assert 0.1 - 0.02 <= gaps[0] < 1.0 and 0.2 - 0.02 <= gaps[1] < 1.5, gaps  # [0.5, 1) x 0.2 s, then x 0.4 s


def test_gives_up_after_retries_plus_one_attempts():
    srv = _Failing(5)
    try:
        ep = ChatEndpoint(srv.url, timeout=5, retry=RetryPolicy(retries=1, backoff=0.01))
        with pytest.raises(CallFailed, match=r"HTTP 503 \(after 2 attempt\(s\)\)"):
            ep.chat({"model": "m", "messages": []})
    finally:
        srv.close()
    assert len(srv.times) == 2
