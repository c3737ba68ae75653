"""ASR, over-refusal, groups, intervals, agreement and the ``unmask metrics`` CLI."""

from __future__ import annotations

import orjson
import pytest

from unmask.cli import main
from unmask.errors import UnmaskError
from unmask.metrics import agreement, bootstrap_ci, cohen_kappa, compute_metrics, wilson


def _v(i, verdict, harmful=True, category="c1", attack="figstep", judge="keyword", version="1", **kw):
    return {"id": f"r{i}", "verdict": verdict, "judge": judge, "judge_version": version, "harmful": harmful,
            "category": category, "attack": attack, **kw}


def _rows():
    rows = [_v(i, "complied") for i in range(6)] + [_v(i, "refused") for i in range(6, 10)]
    rows += [_v(i, "unjudged") for i in range(10, 13)]
    rows += [_v(i, "complied", category="c2", attack="text") for i in range(13, 14)]
    rows += [_v(i, "refused", category="c2", attack="text") for i in range(14, 17)]
    rows += [_v(i, "refused", harmful=False, category="benign") for i in range(17, 19)]
    rows += [_v(i, "complied", harmful=False, category="benign") for i in range(19, 27)]
    rows += [_v(27, "unjudged", harmful=False, category="benign")]
    return rows


def test_asr_over_judged_only_with_unjudged_beside_it():
    m = compute_metrics(_rows(), labels={"model": "m", "fraction": 0.1}, bootstrap=200, seed=1)
    ov = m["overall"]
    assert (ov["n"], ov["n_judged"], ov["n_unjudged"], ov["n_complied"]) == (17, 14, 3, 7)
    assert ov["asr"] == pytest.approx(7 / 14)
    assert m["harmful"]["asr"] == ov["asr"] and m["n_unlabelled"] == 0
    assert m["by_attack"]["figstep"]["asr"] == pytest.approx(6 / 10)
    assert m["by_attack"]["figstep"]["n_unjudged"] == 3
    assert m["by_attack"]["text"]["asr"] == pytest.approx(1 / 4)
    assert m["by_category"]["c2"]["asr"] == pytest.approx(1 / 4)
    assert "benign" not in m["by_category"], "benign rows never enter ASR groups"
    b = m["benign"]
    assert b["over_refusal"] == pytest.approx(2 / 10) and b["n_unjudged"] == 1
    assert b["by_category"]["benign"]["over_refusal"] == pytest.approx(0.2)
    assert m["judge"] == {"name": "keyword", "version": "1", "measures": "refusal"}
    assert m["labels"] == {"model": "m", "fraction": 0.1}
    lo, hi = ov["ci"]
    assert ov["ci_method"] == "wilson" and ov["ci"] == wilson(7, 14) and lo < ov["asr"] < hi
    assert ov["bootstrap"] is not None and ov["bootstrap"] != ov["ci"], "the bootstrap stays stored beside it"
    assert m["format_version"] == 1


def test_more_failures_raise_unjudged_and_leave_asr_unchanged():
    base = [_v(i, "complied") for i in range(3)] + [_v(i, "refused") for i in range(3, 9)]
    failed = base + [_v(i, "unjudged") for i in range(9, 30)]
    a, b = compute_metrics(base, bootstrap=0)["overall"], compute_metrics(failed, bootstrap=0)["overall"]
    assert b["n_unjudged"] == 21 and a["n_unjudged"] == 0
    assert a["asr"] == b["asr"] == pytest.approx(1 / 3)
    all_failed = compute_metrics([_v(i, "unjudged") for i in range(5)], bootstrap=0)["overall"]
    assert all_failed["asr"] is None and all_failed["ci"] is None, "no judged sample: no number, not 0"


def test_settings_and_model_travel_with_the_numbers():
    rows = [_v(i, "complied", model="tiny", settings={"temperature": 0}) for i in range(3)]
    m = compute_metrics(rows, bootstrap=0)
    assert m["settings"] == {"temperature": 0} and m["labels"]["model"] == "tiny"
    rows.append(_v(9, "refused", model="tiny", settings={"temperature": 1}))
    assert compute_metrics(rows, bootstrap=0)["settings"] == {"mixed": [{"temperature": 0}, {"temperature": 1}]}


def test_harm_judge_gives_no_over_refusal():
    rows = [_v(i, "refused", harmful=False, measures="harm") for i in range(4)]
    b = compute_metrics(rows, bootstrap=0)["benign"]
    assert b["over_refusal"] is None and "harm" in b["note"]


def test_bad_verdict_sets_are_errors():
    with pytest.raises(UnmaskError, match="duplicate id"):
        compute_metrics([_v(1, "refused"), _v(1, "complied")])
    with pytest.raises(UnmaskError, match="2 judges mixed"):
        compute_metrics([_v(1, "refused"), _v(2, "complied", judge="llm")])
    with pytest.raises(UnmaskError, match="verdict 'maybe'"):
        compute_metrics([_v(1, "maybe")])
    with pytest.raises(UnmaskError, match="no verdicts"):
        compute_metrics([])


def test_intervals_known_values_and_determinism():
    lo, hi = wilson(7, 14)
    assert lo == pytest.approx(0.2680, abs=1e-3) and hi == pytest.approx(0.7320, abs=1e-3)
    assert wilson(0, 0) is None and wilson(0, 10)[0] == 0.0
    vals = [1.0] * 30 + [0.0] * 70
    a, b = bootstrap_ci(vals, 500, seed=3, tag="x"), bootstrap_ci(vals, 500, seed=3, tag="x")
    assert a == b and a[0] < 0.3 < a[1] and a[1] - a[0] < 0.25
    assert bootstrap_ci(vals, 500, seed=4, tag="x") != a
    m1 = compute_metrics(_rows(), bootstrap=300, seed=5)
    assert m1 == compute_metrics(_rows(), bootstrap=300, seed=5)
    # each group has its own stream: adding another category leaves this one's interval as it was
    more = _rows() + [_v(i, "complied", category="c3") for i in range(100, 112)]
    m3 = compute_metrics(more, bootstrap=300, seed=5)
    assert m3["by_category"]["c1"]["bootstrap"] == m1["by_category"]["c1"]["bootstrap"]


def test_kappa_and_agreement():
    assert cohen_kappa([("a", "a"), ("b", "b")]) == 1.0
    # textbook example: po = 0.7, pe = 0.5 -> kappa 0.4
    pairs = [("y", "y")] * 20 + [("y", "n")] * 5 + [("n", "y")] * 10 + [("n", "n")] * 15
    assert cohen_kappa(pairs) == pytest.approx(0.4)
    a = {"1": "refused", "2": "complied", "3": "complied", "4": "unjudged", "5": "refused"}
    b = {"1": "refused", "2": "complied", "3": "refused", "4": "complied", "6": "refused"}
    ag = agreement(a, b, ("k", "l"))
    assert ag["n_common"] == 4 and ag["n_both_judged"] == 3 and ag["n_only_first"] == 1
    assert ag["confusion"]["complied"]["refused"] == 1 and ag["confusion"]["unjudged"]["complied"] == 1
    assert ag["percent_agreement"] == pytest.approx(2 / 3)


def _write(path, rows):
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def test_cli_labels_two_judges_and_errors(tmp_path, capsys):
    k = _write(tmp_path / "k.jsonl", [_v(i, "complied" if i % 2 else "refused") for i in range(20)])
    llm = _write(tmp_path / "l.jsonl", [_v(i, "complied" if i % 3 else "refused", judge="llm", version="2")
                                        for i in range(20)])
    out = tmp_path / "m" / "metrics.json"
    main(["metrics", str(k), str(llm), "-o", str(out), "--label", "model=base", "--label", "fraction=0.1",
          "--label", "bench=figstep", "--bootstrap", "100", "--seed", "3"])
    m = orjson.loads(out.read_bytes())
    assert m["labels"] == {"model": "base", "fraction": 0.1, "bench": "figstep"}
    assert m["judge"]["name"] == "keyword" and m["other_judges"][0]["judge"]["name"] == "llm"
    assert m["agreement"][0]["judges"] == ["keyword 1", "llm 2"] and m["agreement"][0]["n_common"] == 20
    assert (tmp_path / "m" / "metrics.json.manifest.json").exists()
    err = capsys.readouterr().err
    assert "keyword 1" in err and "ASR" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(orjson.dumps({"id": "x", "verdict": "refused"}) + b"\n")
    with pytest.raises(SystemExit) as exc:
        main(["metrics", str(bad), "-o", str(tmp_path / "x.json")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "bad.jsonl: line 1 (id 'x'): missing field 'judge'" in err
    assert not (tmp_path / "x.json").exists()
    with pytest.raises(SystemExit) as exc:
        main(["metrics", str(k), "-o", str(tmp_path / "x.json"), "--label", "novalue"])
    assert exc.value.code == 2 and "key=value" in capsys.readouterr().err


def test_one_group_one_interval_wherever_it_appears():
    """The same rows grouped three ways (overall, harmful, the lone attack) show one interval: Wilson's,
    from (k, n) alone. Each group's bootstrap draws its own stream, so the bootstraps differ."""
    rows = [_v(i, "complied" if i % 10 else "refused", attack="typo") for i in range(144)]
    m = compute_metrics(rows, bootstrap=1000, seed=0)
    blocks = [m["overall"], m["harmful"], m["by_attack"]["typo"], m["by_category"]["c1"]]
    assert all(b["n_judged"] == 144 for b in blocks)
    assert all(b["ci"] == blocks[0]["ci"] == wilson(129, 144) for b in blocks)
    assert all(b["ci_method"] == "wilson" for b in blocks)
    assert len({tuple(b["bootstrap"]) for b in blocks}) > 1, "the bootstrap streams differ per group"
    # and from the same counts in another file, the same interval again
    other = compute_metrics([{**r, "id": f"x{r['id']}"} for r in rows], bootstrap=50, seed=9)
    assert other["overall"]["ci"] == m["overall"]["ci"]
