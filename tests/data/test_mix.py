"""`unmask mix`: the paper's method, its baselines and ablations."""

from __future__ import annotations

import json

import orjson
import pytest

from unmask.data.formats import read_records
from unmask.mix.method import MixConfig, make_refusal, plan_mix
from unmask.mix.refusals import DEFAULT_REFUSAL


def _records(n: int, turns: int = 2, image_every: int = 1) -> list[dict]:
    out = []
    for i in range(n):
        conv = []
        for t in range(turns):
            q = f"question {i}.{t}?"
            if t == 0 and i % image_every == 0:
                q = "<image>\n" + q
            conv += [{"from": "human", "value": q}, {"from": "gpt", "value": f"answer {i}.{t}"}]
        rec = {"id": f"r{i}", "conversations": conv}
        if i % image_every == 0:
            rec["image"] = f"img/{i}.jpg"
        out.append(rec)
    return out


@pytest.fixture
def src(tmp_path):
    path = tmp_path / "llava.json"
    path.write_text(json.dumps(_records(50, turns=3, image_every=2)))
    return path


def _load(path):
    return orjson.loads(path.read_bytes())


def _refusals(rows):
    return [r for r in rows if r.get("metadata", {}).get("refusal")]


@pytest.mark.parametrize("p,expected", [(0.0, 0), (0.1, 5), (0.25, 13), (0.33, 17), (1.0, 50)])
def test_fraction_replaces_exactly_round_p_n(run_cli, src, tmp_path, p, expected):
    out = tmp_path / "out.json"
    code, _, err = run_cli("mix", src, "-o", out, "--fraction", p)
    assert code == 0, err
    rows = _load(out)
    assert len(rows) == 50
    refused = _refusals(rows)
    assert len(refused) == expected
    for r in refused:  # one random (question, refusal) turn kept, image marker kept with it
        assert [t["from"] for t in r["conversations"]] == ["human", "gpt"]
        assert r["conversations"][1]["value"] == DEFAULT_REFUSAL
        assert r["conversations"][0]["value"].count("<image>") == (1 if "image" in r else 0)
        assert r["metadata"]["refusal_template"] == 0
    untouched = [r for r in rows if not r.get("metadata")]
    originals = {r["id"]: r for r in _load(src)}
    assert all(originals[r["id"]] == r for r in untouched)


def test_same_seed_byte_identical_other_seed_differs(run_cli, src, tmp_path):
    outs = []
    for k, seed in enumerate([3, 3, 4]):
        out = tmp_path / f"o{k}.json"
        assert run_cli("mix", src, "-o", out, "--fraction", "0.2", "--seed", seed)[0] == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] and outs[0] != outs[2]


@pytest.mark.parametrize("indent", [None, 2])
@pytest.mark.parametrize("mode", [["--fraction", "0.3"], ["--rejections", "9", "--keep", "17"]])
def test_jsonl_and_fast_path_choose_the_same_records(run_cli, src, tmp_path, indent, mode):
    """The fast path (LLaVA JSON, byte copies) and the general path (JSONL, parsed) agree."""
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(_load(src), indent=indent))
    src = pretty
    jsonl = tmp_path / "llava.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in _load(src)))
    assert run_cli("mix", src, "-o", tmp_path / "a.json", *mode, "--seed", 9)[0] == 0
    assert run_cli("mix", jsonl, "-o", tmp_path / "b.jsonl", *mode, "--seed", 9)[0] == 0
    a = _load(tmp_path / "a.json")
    b = [orjson.loads(x) for x in (tmp_path / "b.jsonl").read_bytes().splitlines()]
    assert a == b


def test_counts_mode(run_cli, src, tmp_path):
    out = tmp_path / "out.json"
    assert run_cli("mix", src, "-o", out, "--rejections", 7, "--keep", 20)[0] == 0
    rows = _load(out)
    assert len(rows) == 27 and len(_refusals(rows)) == 7
    assert len({r["id"] for r in rows}) == 27  # R and K are different records
    manifest = orjson.loads((tmp_path / "out.json.manifest.json").read_bytes())
    assert manifest["counts"]["refusal_records"] == 7 and manifest["counts"]["untouched_records"] == 20
    assert manifest["inputs"][0]["sha256"]


def test_all_turns_and_bank(run_cli, src, tmp_path):
    bank = tmp_path / "bank.txt"
    bank.write_text("No, I can't help.\n# a comment\nSorry, I cannot do that.\n")
    out = tmp_path / "out.json"
    assert run_cli("mix", src, "-o", out, "--fraction", "0.4", "--all-turns", "--refusals", bank)[0] == 0
    refused = _refusals(_load(out))
    texts = {"No, I can't help.", "Sorry, I cannot do that."}
    for r in refused:
        assert len(r["conversations"]) == 6
        replies = [t["value"] for t in r["conversations"] if t["from"] == "gpt"]
        assert set(replies) <= texts and len(set(replies)) == 1
    assert {r["metadata"]["refusal_template"] for r in refused} == {0, 1}


def test_refusal_source(run_cli, src, tmp_path):
    other = tmp_path / "med.jsonl"
    other.write_text("".join(json.dumps({**r, "id": "med-" + r["id"]}) + "\n" for r in _records(30)))
    out = tmp_path / "out.json"
    assert run_cli("mix", src, "-o", out, "--rejections", 5, "--keep", 10, "--refusal-source", other)[0] == 0
    rows = _load(out)
    assert len(rows) == 15
    assert all(r["id"].startswith("med-") for r in _refusals(rows))
    assert not any(r["id"].startswith("med-") for r in rows if r not in _refusals(rows))


@pytest.mark.parametrize("mode", ["blank", "noise", "remove"])
def test_image_ablations(run_cli, src, tmp_path, mode):
    out = tmp_path / "out.json"
    assert run_cli("mix", src, "-o", out, "--fraction", "1.0", "--refusal-image", mode)[0] == 0
    with_img = [r for r in _load(out) if r["id"] in {f"r{i}" for i in range(0, 50, 2)}]
    for r in with_img:
        if mode == "remove":
            assert "image" not in r and "<image>" not in r["conversations"][0]["value"]
        else:
            assert r["image"].startswith(f"unmask://{mode}")
            assert r["conversations"][0]["value"].startswith("<image>")
    assert read_records(out)  # still valid records


def test_same_ids_contrastive(run_cli, src, tmp_path):
    out = tmp_path / "out.json"
    assert run_cli("mix", src, "-o", out, "--rejections", 4, "--keep", 10, "--same-ids")[0] == 0
    rows = _load(out)
    assert len(rows) == 14
    copies = _refusals(rows)
    kept_ids = {r["id"] for r in rows if not r.get("metadata")}
    assert len(copies) == 4 and all(c["metadata"]["pair_of"] in kept_ids for c in copies)


def test_curated_baseline(run_cli, src, tmp_path):
    vlg = [{"id": "v1", "image": "safe/1.png", "safe": True, "harmful_category": None, "harmful_subcategory": None,
            "instr-resp": [{"safe_instruction": "Describe it.", "response": "A chair."},
                           {"unsafe_instruction": "Placeholder unsafe ask.", "response": "I cannot help with that."}]},
           {"id": "v2", "image": "unsafe/2.png", "safe": False, "harmful_category": "c", "harmful_subcategory": "s",
            "instr-resp": [{"instruction": "Placeholder ask.", "response": "Sorry, I can't assist."}]}]
    cur = tmp_path / "vlguard_train.json"
    cur.write_text(json.dumps(vlg))
    out = tmp_path / "out.json"
    assert run_cli("mix", src, "-o", out, "--fraction", "0", "--curated", cur)[0] == 0
    rows = _load(out)
    assert len(rows) == 53
    curated = [r for r in rows if r.get("metadata", {}).get("curated")]
    assert [r["id"] for r in curated] == ["v1-0", "v1-1", "v2-0"]
    assert [r["metadata"]["refusal"] for r in curated] == [False, True, True]
    out2 = tmp_path / "out2.json"
    assert run_cli("mix", src, "-o", out2, "--fraction", "0", "--curated", cur, "--curated-count", 2)[0] == 0
    assert len(_load(out2)) == 52


@pytest.mark.parametrize("args,msg", [
    (["--fraction", "1.5"], "--fraction must be within [0, 1]"),
    (["--fraction", "-0.1"], "--fraction must be within [0, 1]"),
    (["--rejections", "40", "--keep", "20"], "is larger than the source (50 records)"),
    (["--rejections", "4"], "counts mode needs both"),
    ([], "give --fraction P"),
])
def test_bad_requests_exit_2_without_output(run_cli, src, tmp_path, args, msg):
    out = tmp_path / "out.json"
    code, _, err = run_cli("mix", src, "-o", out, *args)
    assert code == 2 and msg in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob(".out.json*"))


@pytest.mark.parametrize("content,msg", [
    (b'[{"id": "a", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "x"}]}, {"id"',
     "truncated"),
    (b'[{"id": "a", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "x"}]}, '
     b'{"id": "b", "conversations": [{"from": "human", "value": "q"}]}]', "record 1 (id 'b')"),
    (b'[{"id": "a", "conversations": [{"from": "alien", "value": "q"}, {"from": "gpt", "value": "x"}]}]',
     "record 0"),
    (b'[{"id": "a\xff", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "x"}]}]',
     "UTF-8"),
])
def test_bad_input_files(run_cli, tmp_path, content, msg):
    src = tmp_path / "bad.json"
    src.write_bytes(content)
    out = tmp_path / "out.json"
    code, _, err = run_cli("mix", src, "-o", out, "--fraction", "0.5")
    assert code == 2 and msg in err and "bad.json" in err and "Traceback" not in err
    assert not out.exists()


def test_plan_is_stable_per_record():
    """A record's refusal (turn, template) depends on the seed and the record, not on the draw."""
    from unmask.data.records import Conversation, Turn

    conv = Conversation(id="x", turns=[Turn(role="user", text=f"q{i}") if i % 2 == 0 else
                                       Turn(role="assistant", text=f"a{i}") for i in range(6)])
    cfg = MixConfig(fraction=0.5, seed=1, refusals=["no1", "no2", "no3"])
    assert make_refusal(conv, cfg, ("main", 4)) == make_refusal(conv, cfg, ("main", 4))
    plan = plan_mix(10, cfg)
    assert sum(it.refuse for it in plan) == 5 and [it.index for it in plan] == list(range(10))


def test_default_refusal_is_the_papers_exact_sentence(run_cli, src, tmp_path):
    """The paper's code writes and compares (``==``) this sentence, without a final period."""
    assert DEFAULT_REFUSAL == "I'm sorry, but I cannot assist with your request"
    out = tmp_path / "out.json"
    assert run_cli("mix", src, "-o", out, "--rejections", "3", "--keep", "4")[0] == 0
    replies = {r["conversations"][1]["value"] for r in _refusals(_load(out))}
    assert replies == {"I'm sorry, but I cannot assist with your request"}
