"""The samples embedded in the report: each table link lists exactly the samples its number counts, images
are thumbnails within the budget, and the samples are found through ``sources``, beside the metrics file or
through the manifests."""

from __future__ import annotations

import base64
import html
import io
import re
from urllib.parse import unquote

import orjson
import pytest

from unmask.data.store import write_manifest
from unmask.metrics import compute_metrics, wilson
from unmask.metrics.core import read_verdicts
from unmask.report import build_report


def embedded(page: str) -> dict:
    m = re.search(r'<script type="application/json" id=unmask-samples>(.*?)</script>', page, re.S)
    return orjson.loads(m.group(1))


def links(page: str) -> list[tuple[dict, str]]:
    """(filters, cell text) of every table link to the sample browser."""
    out = []
    for href, text in re.findall(r'<td><a href="#samples\?([^"]*)">([^<]*)</a></td>', page):
        params = dict(kv.split("=", 1) for kv in html.unescape(href).split("&"))
        out.append(({k: unquote(v) for k, v in params.items()}, html.unescape(text)))
    return out


def select(data: dict, f: dict) -> list[dict]:
    """The rows the page's script shows for filters ``f`` (the same semantics, in Python)."""
    key = {"set": "set", "category": "cat", "attack": "atk", "verdict": "v"}
    return [r for r in data["rows"] if str(r["f"]) == f["file"]
            and all(r[key[k]] == v for k, v in f.items() if k != "file")]


def test_every_link_lists_the_samples_its_number_counts(runs, tmp_path):
    out = tmp_path / "r.html"
    res = build_report(runs, out)
    page = out.read_text()
    data = embedded(page)
    assert res["n_samples"] == len(data["rows"]) == 6 * 60 + 30
    found = links(page)
    assert len(found) == 13 + 15 + 11  # overview, by category, by attack
    docs = [orjson.loads((p / "metrics.json").read_bytes()) for p in sorted(runs[0].glob("mix-*/*"))]
    docs.append(orjson.loads((runs[1] / "results/base/harm/keyword/metrics.json").read_bytes()))
    for f, text in found:
        rows = select(data, f)
        doc = docs[int(f["file"])]
        block = doc if f["set"] == "attack" else doc["benign"]
        if "category" in f or "attack" in f:
            field = "category" if "category" in f else "attack"
            block = block[f"by_{field}"][f[field]]
        elif f["set"] == "attack":
            block = block["overall"]
        if f.get("verdict") == "unjudged":
            assert len(rows) == block["n_unjudged"] == int(text), f
            continue
        assert len(rows) == block["n"], f
        hits = "complied" if f["set"] == "attack" else "refused"
        assert sum(r["v"] == hits for r in rows) == block["n_complied" if hits == "complied" else "n_refused"]
        assert sum(r["v"] == "unjudged" for r in rows) == block["n_unjudged"]
        assert text.startswith(f"{block['asr' if f['set'] == 'attack' else 'over_refusal']:.3f}")
    # each sample carries what the browser shows: prompt, answer, verdict, the judge's reason, its image
    r = next(r for r in data["rows"] if r["id"] == "figstep-4" and data["files"][r["f"]]["model"] == "mix-0.1")
    assert r["q"].startswith("The image shows a list") and r["a"] and r["why"].startswith("matched: ")
    assert r["path"] == "images/figstep-4.png" and r["img"] in data["images"]
    # the runner's layout (results/ + .stages/, paths relative to the run folder) resolves too
    base = [r for r in data["rows"] if data["files"][r["f"]]["name"] == "data/results/base/harm/keyword"]
    assert len(base) == 30 and all(r["a"] and r["q"] for r in base) and all(r["img"] is None for r in base)


def test_images_are_shared_thumbnails_within_the_budget(runs, tmp_path):
    from PIL import Image

    res = build_report(runs, tmp_path / "r.html")
    data = embedded((tmp_path / "r.html").read_text())
    assert res["n_images"] == len(data["images"]) == 120, "one thumbnail per image, shared by every model"
    for url in list(data["images"].values())[:5]:
        assert url.startswith("data:image/jpeg;base64,")
        im = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
        assert max(im.size) == 256 and im.size == (256, 192)
    small = build_report(runs, tmp_path / "s.html", image_budget=40_000)
    page = (tmp_path / "s.html").read_text()
    data = embedded(page)
    assert 0 < small["n_images"] < 120 and sum(map(len, data["images"].values())) <= 40_000
    # one image from each benchmark in turn: both are shown before the budget runs out
    shown = {r["path"].split("/")[1].split("-")[0] for r in data["rows"] if r["img"]}
    assert shown == {"figstep", "benign"}
    assert all(r["path"] for r in data["rows"] if r["img"] is None and r["set"] == "benign")
    assert "image budget of 0.04 MB is spent" in page
    none = build_report(runs, tmp_path / "n.html", samples=False)
    assert none["n_samples"] == 0 and "unmask-samples" not in (tmp_path / "n.html").read_text()
    assert "#samples?" not in (tmp_path / "n.html").read_text(), "no links to a browser that is not there"


def test_samples_found_through_the_manifests(tmp_path, tools):
    """`unmask judge` / `unmask generate` manifests lead from verdicts beside metrics.json to the answers
    and the benchmark (metrics.json without sources, as older versions wrote it)."""
    exp = tmp_path / "exp"
    bench = tools.make_bench(exp / "bench", "mm", 12, True)
    run = exp / "run"
    v, g = tools.write_run(run, bench, 0.5, True, seed=1, model="llava", gen_folder=exp / "gen")
    write_manifest(g, "generate", inputs=[bench])
    write_manifest(v, "judge", inputs=[g])  # no samples named: found through the generations' manifest
    doc = compute_metrics(read_verdicts([v]), labels={"model": "llava", "bench": "mm"}, bootstrap=0)
    (run / "metrics.json").write_bytes(orjson.dumps(doc))
    build_report([exp], tmp_path / "r.html")
    data = embedded((tmp_path / "r.html").read_text())
    assert len(data["rows"]) == 12 and all(r["a"] and r["q"] and r["img"] for r in data["rows"])
    build_report([run], tmp_path / "r.html")  # the answers and the benchmark lie outside this folder
    page = (tmp_path / "r.html").read_text()
    assert "not found: generations (answers), benchmark samples (prompts, images); not read, outside" in page


def test_missing_samples_are_said_and_hostile_text_stays_text(tmp_path, tools):
    bench = tools.make_bench(tmp_path / "bench", "x", 4, True, images=False)
    run = tmp_path / "run"
    v, g = tools.write_run(run, bench, 1.0, True, seed=1, model="m")
    rows = [orjson.loads(line) for line in g.read_bytes().splitlines()]
    rows[0]["response"] = "</script><script>alert(1)</script><!--"
    g.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    doc = compute_metrics(read_verdicts([v]), bootstrap=0)
    doc["sources"] = {"verdicts": ["verdicts.jsonl"], "generations": ["generations.jsonl"], "samples": []}
    (run / "metrics.json").write_bytes(orjson.dumps(doc))
    other = tmp_path / "other"
    other.mkdir()
    (other / "metrics.json").write_bytes(orjson.dumps(doc | {"sources": {"verdicts": ["gone.jsonl"]}}))
    build_report([run, other], tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert "<script>alert(1)" not in page and "<!--" not in page.split("unmask-samples")[1]
    data = embedded(page)
    assert data["rows"][0]["a"] == "</script><script>alert(1)</script><!--"
    assert "Samples of run: not found: benchmark samples (prompts, images)." in page
    assert "Samples of other: no verdicts found" in page
    assert "file=1" not in page, "no links into a metrics file whose samples were not found"


@pytest.mark.parametrize("k,n", [(129, 144), (0, 30), (30, 30)])
def test_one_group_one_interval_in_every_table(tmp_path, tools, k, n):
    """A bench with one attack and one category: overall, the attack and the category are the same rows.
    The summary (as the demo writes it), the overview and both grids show one interval: Wilson's."""

    bench = tools.make_bench(tmp_path / "bench", "typo", n, True, images=False)
    lines = [orjson.loads(x) | {"category": "harm", "attack": "world-typo"} for x in bench.read_bytes().splitlines()]
    bench.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    run = tmp_path / "demo"
    d = run / "results" / "base" / "harmful-typo" / "keyword"
    v, _ = tools.write_run(d, bench, 0.0, True, seed=0, model="base")
    rows = read_verdicts([v])
    for i, r in enumerate(rows):
        r["verdict"] = "complied" if i < k else "refused"
    doc = compute_metrics(rows, labels={"model": "base", "bench": "harmful-typo"}, bootstrap=1000, seed=0)
    (d / "metrics.json").write_bytes(orjson.dumps(doc))
    (run / "summary.json").write_bytes(orjson.dumps({"base": {"harmful-typo": {"keyword": {  # the runner's summary
        "asr": doc["overall"]["asr"], "ci": doc["overall"]["ci"], "n": n, "n_judged": n, "n_unjudged": 0,
        "over_refusal": None}}}}))
    build_report([run], tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    lo, hi = wilson(k, n)
    shown = f"{k / n:.3f} [{lo:.3f}, {hi:.3f}]"
    sections = {t: body for t, body in re.findall(r"<h2[^>]*>([^<]*)</h2>(.*?)(?=<h2|$)", page, re.S)}
    tables = [t for t in sections if t.startswith(("Summary", "Overview", "By category: ASR", "By attack: ASR"))]
    assert len(tables) == 4
    for t in tables:
        intervals = set(re.findall(r"\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]", sections[t]))
        assert intervals == {shown}, (t, intervals)


def test_only_files_inside_the_run_folders_are_read(tmp_path, tools):
    """Sources, manifests and images that lead out of the run folders given are not read (said instead): a
    report shows what its run folders hold, nothing from elsewhere."""
    outside = tmp_path / "private"
    outside.mkdir()
    from PIL import Image

    Image.new("RGB", (64, 64), (200, 0, 0)).save(outside / "secret.png")
    run = tmp_path / "run"
    bench = tools.make_bench(run / "bench", "b", 3, True, images=False)
    lines = [orjson.loads(x) | {"image": "../../private/secret.png"} for x in bench.read_bytes().splitlines()]
    bench.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    v, g = tools.write_run(run / "m", bench, 1.0, True, seed=1, model="m")
    doc = compute_metrics(read_verdicts([v]), bootstrap=0)
    doc["sources"] = {"verdicts": ["verdicts.jsonl"], "generations": ["generations.jsonl"],
                      "samples": ["bench/samples.jsonl"]}
    (run / "m" / "metrics.json").write_bytes(orjson.dumps(doc))
    res = build_report([run], tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    data = embedded(page)
    assert res["n_samples"] == 3 and res["n_images"] == 0 and data["images"] == {}
    assert all(r["path"] == "../../private/secret.png" and r["img"] is None for r in data["rows"])
    assert "3 of 1 sample images" not in page and "outside the run folders" in page
    # a metrics file whose sources lie outside the folder given: said, not read
    (outside / "verdicts.jsonl").write_bytes(v.read_bytes())
    doc["sources"] = {"verdicts": ["../../private/verdicts.jsonl"]}
    (run / "m" / "metrics.json").write_bytes(orjson.dumps(doc))
    (run / "m" / "verdicts.jsonl").unlink()
    res = build_report([run], tmp_path / "r2.html")
    page = (tmp_path / "r2.html").read_text()
    assert res["n_samples"] == 0 and "outside the run folders given" in page


def test_synthetic_images_are_drawn_and_foreign_files_are_not_decoded(tmp_path, tools):
    """An ``unmask://`` image is drawn for its thumbnail; a PostScript body named .png is never decoded
    (only the raster allow-list of unmask.data.images opens images): that sample shows its path."""
    run = tmp_path / "run"
    bench = tools.make_bench(run / "bench", "s", 2, True, images=False)
    (run / "bench" / "eps.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n")
    lines = [orjson.loads(x) for x in bench.read_bytes().splitlines()]
    lines[0]["image"], lines[1]["image"] = "unmask://blank?size=64", "eps.png"
    bench.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    v, g = tools.write_run(run / "m", bench, 1.0, True, seed=1, model="m")
    doc = compute_metrics(read_verdicts([v]), bootstrap=0)
    doc["sources"] = {"verdicts": ["verdicts.jsonl"], "generations": ["generations.jsonl"],
                      "samples": ["bench/samples.jsonl"]}
    (run / "m" / "metrics.json").write_bytes(orjson.dumps(doc))
    res = build_report([run], tmp_path / "r.html")
    data = embedded((tmp_path / "r.html").read_text())
    by_id = {r["id"]: r for r in data["rows"]}
    assert res["n_images"] == 1 and by_id["s-0"]["img"] in data["images"]
    assert by_id["s-1"]["img"] is None and by_id["s-1"]["path"] == "eps.png"
