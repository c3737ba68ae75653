"""``unmask judge-compare``: agreement, kappa and confusion of two judges on the same answers."""

from __future__ import annotations

import orjson
import pytest

from unmask.cli import main
from unmask.metrics.compare import compare_rows


def _v(judge, rows, measures="refusal"):
    return [{"id": i, "verdict": v, "judge": judge, "judge_version": "1", "measures": measures,
             "category": c} for i, v, c in rows]


A = _v("keyword", [("1", "complied", "x"), ("2", "complied", "x"), ("3", "refused", "x"), ("4", "refused", "y"),
                   ("5", "complied", "y"), ("6", "unjudged", "y"), ("7", "refused", "y")])
B = _v("harmbench-cls", [("1", "complied", "x"), ("2", "refused", "x"), ("3", "refused", "x"), ("4", "refused", "y"),
                         ("5", "complied", "y"), ("6", "complied", "y"), ("8", "complied", "y")], measures="harm")


def test_agreement_kappa_confusion_by_category():
    doc = compare_rows(A, B)
    # decided by both: ids 1-5 and 7? 7 only in A; 6 unjudged by A -> ids 1..5: 4 of 5 agree
    assert doc["n_common"] == 6 and doc["n_only_first"] == 1 and doc["n_only_second"] == 1
    assert doc["n_both_judged"] == 5 and doc["percent_agreement"] == pytest.approx(0.8)
    # hand-computed: po = .8; A complied 3/5, B complied 2/5 -> pe = .6*.4 + .4*.6 = .48; kappa = .32/.52
    assert doc["kappa"] == pytest.approx(0.32 / 0.52)
    assert doc["confusion"]["complied"]["refused"] == 1 and doc["confusion"]["unjudged"]["complied"] == 1
    assert doc["measures"] == ["refusal", "harm"]
    assert doc["rate_complied"] == [pytest.approx(3 / 5), pytest.approx(3 / 6)]
    assert doc["by_category"]["x"]["percent_agreement"] == pytest.approx(2 / 3)
    assert doc["by_category"]["y"]["n_both_judged"] == 2 and doc["by_category"]["y"]["kappa"] == 1.0
    assert [d["id"] for d in doc["disagreements"]] == ["2", "6"] and doc["n_disagree"] == 2


def test_cli_prints_and_writes(tmp_path, capsys):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in A))
    b.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in B))
    main(["judge-compare", str(a), str(b), "-o", str(tmp_path / "c.json")])
    out = capsys.readouterr().out
    assert "agreement 80.0%, Cohen's kappa 0.615" in out and "keyword 1" in out
    assert orjson.loads((tmp_path / "c.json").read_bytes())["n_both_judged"] == 5
    # metrics with two judges prints the same table
    main(["metrics", str(a), str(b), "-o", str(tmp_path / "m.json"), "--bootstrap", "0"])
    assert "Cohen's kappa 0.615" in capsys.readouterr().err


def test_bad_inputs(tmp_path, capsys):
    a = tmp_path / "a.jsonl"
    a.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in A + _v("other", [("9", "refused", "")])))
    with pytest.raises(SystemExit) as exc:
        main(["judge-compare", str(a), str(a)])
    assert exc.value.code == 2 and "2 judges in one file" in capsys.readouterr().err
    c = tmp_path / "c.jsonl"
    c.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in _v("k", [("z", "refused", "")])))
    b = tmp_path / "b.jsonl"
    b.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in B))
    with pytest.raises(SystemExit) as exc:
        main(["judge-compare", str(c), str(b)])
    assert exc.value.code == 2 and "share no id" in capsys.readouterr().err


def test_asr_by_the_guard_categories():
    from unmask.metrics import compute_metrics

    rows = [{"id": str(i), "verdict": v, "judge": "llama-guard-3", "measures": "harm", "categories": c,
             "harmful": True}
            for i, (v, c) in enumerate([("complied", ["S1", "S10"]), ("complied", ["S2"]), ("refused", []),
                                        ("unjudged", []), ("complied", ["S10"])])]
    doc = compute_metrics(rows, bootstrap=0)
    assert list(doc["by_judge_category"]) == ["S1", "S2", "S10"]
    assert doc["by_judge_category"]["S10"] == {"n_complied": 2, "share_of_judged": 0.5}  # 4 judged
    assert "by_judge_category" not in compute_metrics([{"id": "x", "verdict": "refused", "judge": "k"}], bootstrap=0)
