"""Render the report in a real browser (headless Debian chromium) and look at what it shows.

Skipped when no chromium is installed; ``.ci/run`` installs it, so CI runs this test.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess

import pytest

from unmask.report import build_report

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


def _chromium(args, tmp_path, timeout=120):
    cmd = [BROWSER, "--headless", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
           "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}", *args]
    if os.geteuid() == 0:
        cmd.insert(1, "--no-sandbox")  # chromium refuses to run as root with its sandbox
    return subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)


@pytest.mark.skipif(BROWSER is None, reason="chromium not installed (apt-get install chromium)")
def test_report_renders_table_and_plots_in_chromium(runs, tmp_path):
    import numpy as np
    from PIL import Image

    out = tmp_path / "report.html"
    build_report(runs, out)
    url = out.resolve().as_uri()

    dom = _chromium(["--dump-dom", url], tmp_path).stdout.decode()
    assert "<table>" in dom, "the browser did not render the page"
    overview = dom.split(">Overview (")[1].split("</table>")[0]
    assert overview.count("<tr>") == 1 + 7 and "keyword 1+abc" in overview
    srcs = re.findall(r'<img [^>]*src="data:image/png;base64,([^"]+)"', dom)
    assert len(srcs) == 5
    for s in srcs:
        img = Image.open(io.BytesIO(base64.b64decode(s)))
        assert img.format == "PNG" and img.width > 200 and img.height > 100

    shot = tmp_path / "shot.png"
    res = _chromium([f"--screenshot={shot}", "--window-size=1200,2000", url], tmp_path)
    assert shot.exists(), res.stderr.decode()[-500:]
    page = Image.open(shot).convert("RGB")
    assert page.size == (1200, 2000)
    px = np.asarray(page).reshape(-1, 3).astype(int)
    assert len(np.unique(px, axis=0)) > 200, "the screenshot is (nearly) blank"

    def near(rgb, tol=12):
        return int((np.abs(px - np.array(rgb)) <= tol).all(axis=1).sum())

    # matplotlib's first two series colours (tab:blue, tab:orange) must show: the plots are painted
    assert near((31, 119, 180)) > 500 and near((255, 127, 14)) > 200
    # dark text in the top third: the tables are painted too
    top = np.asarray(page.crop((0, 0, 1200, 700)).convert("L"))
    assert int((top < 80).sum()) > 2000


@pytest.mark.skipif(BROWSER is None, reason="chromium not installed (apt-get install chromium)")
def test_clicking_a_cell_lists_its_samples_in_chromium(runs, tmp_path):
    """A click on a grid cell (mix-0.1 x drugs: ASR with 19 judged and 1 unjudged) filters the sample list to
    its 20 samples; a link opened from outside (the fragment in the address) does the same."""
    out = tmp_path / "report.html"
    build_report(runs, out)
    page = out.read_text()
    href = "#samples?file=3&amp;set=attack&amp;category=drugs"
    assert f'<a href="{href}">' in page
    # The page's own script handles the click; this one only clicks, as a reader would.
    click = ("<script>window.addEventListener('load',function(){document.querySelector("
             "'a[href=\"" + href.replace("&amp;", "&") + "\"]').click();"
             # and the plots' width on the page against their width attribute (1 CSS px per point at 72/100)
             "document.body.setAttribute('data-figw',[].map.call(document.querySelectorAll('figure img'),"
             "function(i){return i.clientWidth+'/'+i.getAttribute('width');}).join(' '));"
             "});</script></body>")
    clicked = tmp_path / "clicked.html"
    clicked.write_text(page.replace("</body>", click))

    def shown(url):
        dom = _chromium(["--virtual-time-budget=5000", "--window-size=1280,2000", "--dump-dom", url],
                        tmp_path).stdout.decode()
        count = re.search(r'<span id="sample-count" data-n="(\d+)">([^<]*)</span>', dom)
        assert count, "the sample browser did not run"
        cards = re.findall(r'<div class="sample">(.*?)</div></div></div>', dom, re.S)
        return int(count.group(1)), count.group(2), cards, dom

    n, text, cards, dom = shown(clicked.resolve().as_uri())
    widths = re.search(r'data-figw="([^"]*)"', dom).group(1).split()
    assert len(widths) == 5 and all(float(a) == float(b) for a, b in (w.split("/") for w in widths)), \
        "at 1280 px every plot is shown at its own size: its 10-13 pt text reads at 10-13 pt"
    assert (n, text) == (20, "20 of 390 samples") and len(cards) == 20
    assert all("category drugs" in c and "mix-0.1" in c for c in cards)
    assert sum('class="verdict v-unjudged"' in c for c in cards) == 1
    assert all('src="data:image/jpeg;base64,' in c for c in cards), "each card shows its image"
    n2, _, cards2, _ = shown(out.resolve().as_uri() + "#samples?file=3&set=attack&verdict=unjudged")
    assert n2 == len(cards2) == 3
    n3, _, cards3, _ = shown(out.resolve().as_uri())
    assert n3 == 390 and len(cards3) == 50, "unfiltered: all samples counted, the first page shown"
