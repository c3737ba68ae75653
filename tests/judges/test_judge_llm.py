"""The llm judge against a loopback server that answers right, fails, throttles, hangs and lies."""

from __future__ import annotations

import time

import orjson
import pytest

from unmask.cli import main
from unmask.errors import UnmaskError
from unmask.judges import get_judge
from unmask.metrics import compute_metrics


def _judge(url, tmp_path, **kw):
    opts = dict(base_url=url, judge_model="judge-1", template="harmbench", timeout=0.3, retries=2,
                backoff=0.01, concurrency=4, cache_dir=tmp_path / "cache")
    opts.update(kw)
    return get_judge("llm", **opts)


def _items(*modes, category=""):
    return [{"id": f"r{i}", "response": f"answer text MODE={m}", "prompt": "how to do a bad thing", "category": category}
            for i, m in enumerate(modes)]


def _run(j, items):
    try:
        return {i: v for i, v in j.judge(items)}
    finally:
        j.close()


def test_correct_answers_map_to_verdicts_with_judge_and_version(llm_server, tmp_path):
    url, state = llm_server
    out = _run(_judge(url, tmp_path), _items("yes", "no"))
    assert out[0].verdict == "complied" and out[1].verdict == "refused"
    assert out[0].judge == "llm" and "harmbench" in out[0].judge_version and "judge-1" in out[0].judge_version
    assert out[0].score == 1.0 and out[1].score == 0.0
    # the HarmBench-style template carries the request and the answer
    user = state.bodies[0]["messages"][-1]["content"]
    assert "how to do a bad thing" in user and "MODE=" in user
    assert state.bodies[0]["temperature"] == 0


@pytest.mark.parametrize("mode,reason", [
    ("e500", "HTTP 500"), ("hang", "timeout"), ("drip", "timeout"), ("trunc", "truncated"), ("garbage", "malformed"),
    ("nochoices", "malformed"), ("maybe", "unparseable"),
])
def test_failures_become_unjudged_never_refused(llm_server, tmp_path, mode, reason):
    url, state = llm_server
    t0 = time.monotonic()
    v = _run(_judge(url, tmp_path), _items("yes", mode))[1]  # one answer: the endpoint is up
    assert time.monotonic() - t0 < 3, "a timeout bounds the whole request, not each byte"
    assert v.verdict == "unjudged"
    assert reason in v.reason
    if mode != "maybe":  # transport failures are retried: 1 try + 2 retries
        assert sum(c for (m, _), c in state.seen.items() if m == mode) == 3
    else:  # an answer that cannot be read is not retried (temperature 0 would say the same)
        assert state.n == 2


def test_retry_recovers_and_429_retry_after_is_honoured(llm_server, tmp_path):
    url, state = llm_server
    out = _run(_judge(url, tmp_path, retries=3), _items("flaky500", "r429"))
    assert out[0].verdict == "complied" and out[1].verdict == "complied"
    text = _items("flaky500", "r429")[1]["response"]
    t = [ts for key, ts in state.times.items() if "MODE=r429" in key][0]
    assert len(t) == 2 and t[1] - t[0] >= 0.95, "the client must wait Retry-After (1 s), not its 0.01 s backoff"
    assert text


def test_cache_answers_without_asking_again(llm_server, tmp_path):
    url, state = llm_server
    _run(_judge(url, tmp_path), _items("yes", "no", "e500"))
    n_first = state.n
    out = _run(_judge(url, tmp_path), _items("yes", "no", "e500"))
    assert out[0].verdict == "complied" and out[1].verdict == "refused"
    assert state.n - n_first == 3, "only the failed item is asked again (failures are not cached)"
    _run(_judge(url, tmp_path, cache=False), _items("yes"))
    assert state.n - n_first == 4


def test_mmsb_template_uses_the_scenario_rule(llm_server, tmp_path):
    url, state = llm_server
    j = _judge(url, tmp_path, template="mmsb")
    out = _run(j, _items("unsafe", "safe", category="10-Legal_Opinion"))
    assert out[0].verdict == "complied" and out[1].verdict == "refused"
    assert "legal advice" in state.bodies[0]["messages"][-1]["content"]
    assert j.measures == "harm"


def test_bad_key_stops_the_run(llm_server, tmp_path):
    url, _ = llm_server
    with pytest.raises(UnmaskError, match="HTTP 401"):
        _run(_judge(url, tmp_path), _items("auth"))


def test_failures_raise_unjudged_and_asr_counts_only_judged(llm_server, tmp_path):
    url, _ = llm_server
    modes = ["yes"] * 3 + ["no"] * 3 + ["e500", "garbage", "hang", "maybe"]
    out = _run(_judge(url, tmp_path, retries=1), _items(*modes))
    rows = [{**out[i].model_dump(), "harmful": True} for i in range(len(modes))]
    m = compute_metrics(rows, bootstrap=0)["overall"]
    assert m["n_unjudged"] == 4 and m["n_judged"] == 6 and m["n"] == 10
    assert m["asr"] == pytest.approx(0.5), "ASR is over judged rows only (3/6), not 3/10 nor 7/10"


def test_cli_api_key_is_sent_but_never_written(llm_server, tmp_path, monkeypatch):
    url, state = llm_server
    key = "sk-planted-SECRET-1234567890"
    monkeypatch.setenv("UNMASK_TEST_KEY", key)
    gen = tmp_path / "gen.jsonl"
    gen.write_bytes(b"".join(orjson.dumps({"id": f"g{i}", "response": f"x MODE={m}", "harmful": True}) + b"\n"
                             for i, m in enumerate(["yes", "no", "e500"])))
    out = tmp_path / "v.jsonl"
    main(["judge", str(gen), "--judge", "llm", "--base-url", url, "--judge-model", "j", "--template", "refusal",
          "--api-key-env", "UNMASK_TEST_KEY", "--retries", "0", "--cache-dir", str(tmp_path / "cache"),
          "-o", str(out)])
    assert all(a == f"Bearer {key}" for a in state.auth)
    verdicts = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [v["verdict"] for v in verdicts] == ["unjudged", "unjudged", "unjudged"]  # refusal template: 'Yes' unreadable
    for p in tmp_path.rglob("*"):
        if p.is_file():
            assert key.encode() not in p.read_bytes(), f"API key leaked into {p}"
    manifest = orjson.loads((tmp_path / "v.jsonl.manifest.json").read_bytes())
    assert manifest["params"]["api_key_env"] == "UNMASK_TEST_KEY"


def test_missing_endpoint_options_are_clear_errors():
    with pytest.raises(UnmaskError, match="--base-url"):
        get_judge("llm", judge_model="x")
    with pytest.raises(UnmaskError, match="--template"):
        get_judge("llm", base_url="http://127.0.0.1:9/v1", judge_model="x", template="nope")


def test_unreachable_endpoint_stops_the_run(tmp_path):
    # Every call failing is no result: one error, nothing recorded (not a file of unjudged rows and exit 0).
    j = get_judge("llm", base_url="http://127.0.0.1:9/v1", judge_model="x", retries=1, backoff=0.01,
                  timeout=0.5, cache=False)
    t0 = time.monotonic()
    with pytest.raises(UnmaskError, match="every judge call failed .*connection failed"):
        _run(j, _items("yes", "no"))
    assert time.monotonic() - t0 < 5
