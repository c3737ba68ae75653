"""``unmask probe`` end to end on small benchmark folders built by ``unmask attack`` from the world's
question sets, with the shipped tiny base; and its bad inputs (one line, exit 2, no output)."""

from __future__ import annotations

import orjson
import pytest

from unmask.world.export import question_sets


@pytest.fixture(scope="module")
def benches(tmp_path_factory):
    from unmask.cli import main

    root = tmp_path_factory.mktemp("probe")
    sets = question_sets(0)
    rows = sets["harmful"][:12] + sets["benign"][:12]  # two topics per class, six wordings each
    q = root / "questions.jsonl"
    q.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    for kind in ("text", "world-typo"):
        try:
            main(["attack", kind, str(q), "-o", str(root / kind), "--workers", "1"])
        except SystemExit as exc:
            assert not exc.code
    return root


def test_probe_on_benchmark_folders(run_cli, benches):
    out = benches / "out"
    code, stdout, err = run_cli("probe", "tiny", "--text", benches / "text", "--typo", benches / "world-typo",
                                "-o", out, "--bootstrap", "50", "--batch-size", "12", "--folds", "2",
                                "--device", "cpu")
    assert code == 0, err
    doc = orjson.loads((out / "probe.json").read_bytes())
    assert doc["n"] == {"text": 24, "typo": 24, "harmful": 12, "clusters": 4}
    base = doc["models"]["base"]
    assert [r["layer"] for r in base["layers"]] == [0, 1, 2, 3, 4]  # embeddings + 4 decoder layers
    for r in base["layers"]:
        for key in ("text_auroc", "typo_auroc", "typo_own_auroc"):
            assert 0.0 <= r[key]["value"] <= 1.0
    # the world's base refuses harmful text at the first token and separates it from benign
    assert base["logodds"]["text"]["harmful_refusal_first"] == 1.0
    assert base["logodds"]["text"]["auroc"]["value"] > 0.9
    assert (out / "probe_auroc.png").read_bytes().startswith(b"\x89PNG")
    assert orjson.loads((out / "manifest.json").read_bytes())["stage"] == "probe"
    assert "base: layer" in stdout


@pytest.mark.parametrize("args, message", [
    (("--set", "world", "--text", "T"), "either --set NAME or both"),
    (("--text", "{text}"), "--text and --typo go together"),
    (("--text", "{typo}", "--typo", "{typo}"), "has an image"),
    (("--text", "{text}", "--typo", "{text}"), "has no image"),
    (("--set", "world", "--adapter", "/no/such/adapter"), "no such adapter folder"),
    (("--set", "world", "--method", "svm"), "--method must be one of"),
    (("--set", "nosuch"), "unknown probe request set 'nosuch'"),
])
def test_bad_inputs_exit_2_without_output(run_cli, benches, tmp_path, args, message):
    args = [a.format(text=benches / "text", typo=benches / "world-typo") for a in args]
    code, _, err = run_cli("probe", "tiny", *args, "-o", tmp_path / "out", "--device", "cpu")
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_the_report_shows_the_probe_plot(tmp_path):
    """A probe folder inside a run folder: its per-layer plot appears in `unmask report` with its caption."""
    from unmask.probe.run import plot_auroc
    from unmask.report import build_report

    run = tmp_path / "run"
    (run / "probe").mkdir(parents=True)
    (run / "metrics.json").write_bytes(orjson.dumps({
        "format_version": 1, "judge": {"name": "keyword", "version": "1"}, "labels": {},
        "overall": {"asr": 0.5, "ci": [0.2, 0.8], "n": 4, "n_judged": 4, "n_unjudged": 0}}))
    block = {"text_auroc": {"value": 0.9, "ci": [0.8, 1.0]}, "typo_auroc": {"value": 0.7, "ci": None}}
    doc = {"models": {"base": {"layers": [{"layer": 0, **block}, {"layer": 1, **block}],
                               "logodds": {"text": {"auroc": {"value": 0.95}}, "typo": {"auroc": {"value": 0.6}}}}}}
    plot_auroc(doc, run / "probe" / "probe_auroc.png")
    res = build_report([run], tmp_path / "r.html")
    assert res["n_bias"] == 1
    assert "Linear probe: run/probe/probe_auroc.png" in (tmp_path / "r.html").read_text()
