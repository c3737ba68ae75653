"""Round two, cases 2 and 6 (and issue 16's HTTP points): the one HTTP client of the judge and the backend.

Before: the llm judge and ``generate --backend openai`` followed a 302 to another origin with the API key
(the POST became a GET, and that server's "Yes" was recorded as a verdict / answer); the backend had no
read deadline (a server trickling one byte every 0.2 s held it far past its timeout), crashed with exit 1
on a body that was not UTF-8 or cut short, ignored Retry-After, and dropped the server's explanation of
a 400. Each case below runs the real command against loopback servers on 127.0.0.1.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from loopback import serve

KEY = "sk-round-two-SECRET-0987654321"


def _bench(tmp: Path, *modes: str) -> Path:
    bench = tmp / "bench"
    bench.mkdir(exist_ok=True)
    (bench / "samples.jsonl").write_text("".join(
        json.dumps({"id": f"s{i}", "prompt": f"question {i} MODE={m}"}) + "\n" for i, m in enumerate(modes)))
    return bench


def _generate(run_cli, tmp: Path, url: str, *modes: str, timeout: float = 1.0, retries: int = 1):
    out = tmp / "gen.jsonl"
    t0 = time.monotonic()
    code, so, se = run_cli("generate", "--backend", "openai", "--model", "served", "--bench", _bench(tmp, *modes),
                           "-o", out, "--api-base", url, "--api-key-env", "UNMASK_RT_KEY", "--timeout", timeout,
                           "--retries", retries, "--batch-size", "2", "--no-progress")
    return code, so, se, out, time.monotonic() - t0


def _judge(run_cli, tmp: Path, url: str, *modes: str, template: str = "harmbench", timeout: float = 1.0,
           retries: int = 1):
    """Judge one answer per mode; the last row is the case (a first row 'yes' shows the endpoint is up:
    when every call fails the judge stops instead, see test_rel_judge_faults)."""
    modes = ("yes", *modes)
    gen = tmp / "g.jsonl"
    gen.write_text("".join(json.dumps({"id": f"g{i}", "prompt": "p", "response": f"a MODE={m}", "harmful": True})
                           + "\n" for i, m in enumerate(modes)))
    out = tmp / "v.jsonl"
    t0 = time.monotonic()
    code, so, se = run_cli("judge", gen, "--judge", "llm", "--base-url", url, "--judge-model", "m",
                           "--template", template, "--api-key-env", "UNMASK_RT_KEY", "--timeout", timeout,
                           "--retries", retries, "--backoff", "0.05", "--no-cache", "-o", out)
    rows = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
    return code, so + se, rows, time.monotonic() - t0


def _one_error_line(se: str, *words: str) -> str:
    lines = [line for line in se.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), se
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert KEY not in lines[0]
    return lines[0]


@pytest.fixture
def two_servers(monkeypatch):
    """(url of A, state of A, state of B): A redirects to B; B must never be asked anything."""
    monkeypatch.setenv("UNMASK_RT_KEY", KEY)
    with serve() as (url_a, a), serve() as (url_b, b):
        a.redirect_to = url_b + "/chat/completions"
        yield url_a, a, b


# ---------------------------------------------------------------------------------- case 2: redirects
@pytest.mark.parametrize("mode", ["r302", "r303", "r307"])
def test_judge_redirect_elsewhere_is_unjudged_and_the_key_stays_home(two_servers, tmp_path, run_cli, mode):
    url, a, b = two_servers
    code, text, rows, _ = _judge(run_cli, tmp_path, url, mode)
    assert code == 0, text
    assert rows[-1]["verdict"] == "unjudged", rows[-1]  # before: B's "Yes" -> complied
    assert "redirect" in rows[-1]["reason"] and "not followed" in rows[-1]["reason"], rows[-1]["reason"]
    assert b.requests == [], "the other origin was asked (with the API key)"
    assert a.methods == ["POST", "POST"], "a redirect is a failed call, not retried"


@pytest.mark.parametrize("mode", ["r302", "r307"])
def test_generate_redirect_elsewhere_fails_with_one_line(two_servers, tmp_path, run_cli, mode):
    url, a, b = two_servers
    code, so, se, out, _ = _generate(run_cli, tmp_path, url, mode)
    assert code == 2
    _one_error_line(se, "sample 's0'", "redirect to http://127.0.0.1", "not followed")
    assert b.requests == [] and not out.exists()


def test_same_origin_307_is_followed_with_the_post(two_servers, tmp_path, run_cli):
    url, a, b = two_servers
    code, text, rows, _ = _judge(run_cli, tmp_path, url, "r307same")
    assert rows[-1]["verdict"] == "complied", rows[-1]
    assert a.methods == ["POST"] * 3 and b.requests == []
    assert all(h.get("Authorization") == f"Bearer {KEY}" for h, _ in a.requests)


# ------------------------------------------------------------------------------ case 6: deadlines etc.
@pytest.mark.parametrize("mode", ["trickle", "htrickle"])
def test_generate_deadline_holds_while_bytes_trickle(two_servers, tmp_path, run_cli, mode):
    url, a, _ = two_servers
    code, so, se, out, took = _generate(run_cli, tmp_path, url, mode, timeout=1.0, retries=1)
    assert code == 2, se
    _one_error_line(se, "sample 's0'", "timeout after 1s (after 2 attempt(s))")
    # two attempts of 1 s plus one backoff (<= 1 s); before: ~9 s (the body arrives, a byte per 0.2 s)
    assert took < 4.5, f"{took:.1f}s"
    assert not out.exists()


def test_judge_deadline_holds_while_headers_trickle(two_servers, tmp_path, run_cli):
    url, *_ = two_servers
    code, text, rows, took = _judge(run_cli, tmp_path, url, "htrickle", timeout=0.6, retries=1)
    assert rows[-1]["verdict"] == "unjudged" and "timeout after 0.6s" in rows[-1]["reason"], rows[-1]
    assert took < 3.5, f"{took:.1f}s"  # before: ~20 s (the deadline covered the body only)


@pytest.mark.parametrize("mode,words", [("latin1", "malformed response body"), ("trunc", "truncated response body"),
                                        ("close", "connection failed")])
def test_generate_bad_bodies_fail_cleanly(two_servers, tmp_path, run_cli, mode, words):
    url, a, _ = two_servers
    code, so, se, out, _ = _generate(run_cli, tmp_path, url, mode, retries=1)
    assert code == 2, se  # before: exit 1 with a UnicodeDecodeError / IncompleteRead
    _one_error_line(se, "sample 's0'", words, "after 2 attempt(s)", "run the command again to resume")
    assert a.methods == ["POST", "POST"]  # retried once


def test_generate_honours_retry_after_seconds_and_date(two_servers, tmp_path, run_cli):
    url, a, _ = two_servers
    code, so, se, out, _ = _generate(run_cli, tmp_path, url, "r429once", "r429date", timeout=5, retries=2)
    assert code == 0, se
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["response"] for r in rows] == ["Yes", "Yes"]
    gaps = {}
    for text, ts in a.times.items():
        gaps["date" if "r429date" in text else "secs"] = ts[1] - ts[0]
    assert gaps["secs"] >= 0.95, gaps  # Retry-After: 1 (before: 0.5 s backoff)
    assert gaps["date"] >= 1.0, gaps  # Retry-After: <HTTP date 2 s ahead>; whole seconds, so >= 1 s


# ------------------------------------------------------------------------------ issue 16: HTTP points
def test_http_400_shows_the_servers_explanation(two_servers, tmp_path, run_cli):
    url, a, _ = two_servers
    code, so, se, out, _ = _generate(run_cli, tmp_path, url, "e400")
    _one_error_line(se, "HTTP 400: Invalid value for 'messages': it must be a list.")
    assert a.methods == ["POST"]  # a request the server rejects is not sent again as is
    code, text, rows, _ = _judge(run_cli, tmp_path, url, "e400")
    assert rows[-1]["verdict"] == "unjudged" and "Invalid value for 'messages'" in rows[-1]["reason"]


def test_reasoning_model_gets_max_completion_tokens_and_no_temperature(two_servers, tmp_path, run_cli):
    url, a, _ = two_servers
    code, so, se, out, _ = _generate(run_cli, tmp_path, url, "reasoning", "reasoning")
    assert code == 0, se
    assert [json.loads(x)["response"] for x in out.read_text().splitlines()] == ["Yes", "Yes"]
    last = json.loads(a.requests[-1][1])
    assert "max_completion_tokens" in last and "max_tokens" not in last and "temperature" not in last
    assert len(a.requests) <= 6  # two samples in flight: at most two rejections each, then remembered
    gen_manifest = json.loads((tmp_path / "gen.jsonl.manifest.json").read_text())
    assert gen_manifest["request_adapted"] == ["default sampling", "max_completion_tokens"]
    code, text, rows, _ = _judge(run_cli, tmp_path, url, "reasoning")
    assert rows[-1]["verdict"] == "complied", rows[-1]
    manifest = json.loads((tmp_path / "v.jsonl.manifest.json").read_text())
    assert manifest["params"]["request_adapted"] == ["default sampling", "max_completion_tokens"]


def test_finish_reason_is_recorded_and_a_cut_off_answer_counted(two_servers, tmp_path, run_cli):
    url, a, _ = two_servers
    code, so, se, out, _ = _generate(run_cli, tmp_path, url, "cut", "reasoning")
    assert code == 0, se
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r.get("finish_reason") for r in rows] == ["length", "stop"]
    manifest = json.loads((tmp_path / "gen.jsonl.manifest.json").read_text())
    assert manifest["counts"]["cut_off"] == 1


def test_cancel_ends_a_call_in_flight_at_once(two_servers):
    # Ctrl-C during `judge --judge llm` / `generate --backend openai`: the calls in flight end now, not at
    # their deadline (the thread pools would otherwise hold the process until then).
    import threading

    from unmask.http import CallFailed, ChatEndpoint, RetryPolicy

    url, *_ = two_servers
    ep = ChatEndpoint(url, timeout=30, retry=RetryPolicy(retries=3))
    got: list[BaseException] = []

    def call() -> None:
        try:
            ep.chat({"model": "m", "messages": [{"role": "user", "content": "MODE=trickle"}]})
        except BaseException as exc:  # noqa: BLE001
            got.append(exc)

    t = threading.Thread(target=call)
    t.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    ep.cancel()
    t.join(5)
    assert not t.is_alive() and time.monotonic() - t0 < 1.0
    assert isinstance(got[0], CallFailed) and str(got[0]) == "cancelled"
