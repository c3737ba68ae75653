"""The OpenAI-compatible backend against a loopback server this test starts on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from unmask.data.store import read_jsonl
from unmask.errors import UnmaskError
from unmask.generate import GenerateConfig, generate


class _Server:
    def __init__(self, fail_first: int = 0, status: int = 500) -> None:
        self.requests: list[dict] = []
        self.fails_left = fail_first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
                )
                if outer.fails_left > 0:
                    outer.fails_left -= 1
                    self.send_response(status)
                    self.end_headers()
                    return
                parts = body["messages"][-1]["content"]
                n_img = sum(p["type"] == "image_url" for p in parts)
                text = next(p["text"] for p in parts if p["type"] == "text")
                reply = {
                    "choices": [
                        {"message": {"role": "assistant", "content": f" {n_img} image(s): {text[-7:]} "}}
                    ]
                }
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _cfg(bench, out, url, **kw) -> GenerateConfig:
    return GenerateConfig(
        model="served-vlm",
        bench=str(bench),
        out=str(out),
        backend="openai",
        api_base=url,
        api_key_env="UNMASK_TEST_KEY",
        max_new_tokens=32,
        batch_size=3,
        progress=False,
        **kw,
    )


def test_openai_backend_sends_images_as_data_urls_and_keeps_the_key_secret(bench, tmp_path, monkeypatch):
    monkeypatch.setenv("UNMASK_TEST_KEY", "sk-secret-123")
    with _Server(fail_first=1) as srv:  # one 500 first: retried
        out = generate(_cfg(bench, tmp_path / "o.jsonl", srv.url, retries=2))
    rows = read_jsonl(out)
    assert [r["id"] for r in rows] == [f"s{i}" for i in range(7)]
    assert rows[0]["response"] == "1 image(s): item 0." and rows[1]["response"] == "0 image(s): item 1."
    assert len(srv.requests) == 8
    req = srv.requests[-1]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-secret-123"
    assert req["body"]["model"] == "served-vlm" and req["body"]["max_tokens"] == 32
    assert req["body"]["temperature"] == 0.0  # greedy
    with_image = next(
        r for r in srv.requests if any(p["type"] == "image_url" for p in r["body"]["messages"][-1]["content"])
    )
    url = with_image["body"]["messages"][-1]["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    for p in tmp_path.glob("o.jsonl*"):
        assert "sk-secret-123" not in p.read_text()
    assert rows[0]["settings"]["backend"] == "openai"


def test_openai_backend_failure_is_one_line_and_resumable(bench, tmp_path):
    with _Server(fail_first=100, status=400) as srv:
        with pytest.raises(UnmaskError, match="request for sample 's0' failed \\(HTTP 400"):
            generate(_cfg(bench, tmp_path / "o.jsonl", srv.url, retries=1))
    assert not (tmp_path / "o.jsonl").exists()
    with _Server() as srv:
        rows = read_jsonl(generate(_cfg(bench, tmp_path / "o.jsonl", srv.url)))
    assert len(rows) == 7
