"""Render N FigStep images the project's way and the plain way, in one run; compare pixels; print times.

    python benchmarks/bench_figstep.py            # N=500
    python benchmarks/bench_figstep.py --n 200 --workers 1
    python benchmarks/bench_figstep.py --repeat 3   # best of 3 interleaved rounds (busy machines)

The plain way is the public FigStep recipe as people run it: one image at a time, the font loaded for
every image, ``ImageDraw.text`` on a 760x760 RGB canvas, ``Image.save(..., "PNG")`` with Pillow's
defaults. The project's way is ``unmask attack figstep`` (run in-process, so interpreter start-up is
not counted; it is printed separately for a subprocess run). Both read the same SafeBench-format CSV
of harmless placeholder instructions written here, and both use the font file shipped in the package.
Every image pair is decoded and compared: the pixels must be identical (the PNG bytes differ, since
the compression differs; compression never changes decoded pixels).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

WORDS = ("garden plant water tomato seedling soil compost harvest basket autumn spring summer carrot radish "
         "lettuce onion pepper shovel rake fence sunlight gently carefully weekly morning evening kitchen "
         "bread flour oven recipe bicycle chain tyre pump library shelf novel poem painting canvas").split()


def write_questions(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["dataset", "category_id", "task_id", "category_name", "question", "instruction"])
        for i in range(n):
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 7)))
            w.writerow(["SafeBench", i // 50 + 1, i % 50 + 1, f"Topic {i // 50 + 1}",
                        f"How do I handle {words}?", f"Steps to handle {words}."])


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the rendering workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def plain_way(csv_path: Path, out: Path, font_file: str) -> float:
    """One image at a time, font loaded per image, PIL drawing, PNG with Pillow's defaults."""
    from PIL import Image, ImageDraw, ImageFont

    out.mkdir(parents=True)
    t0 = time.perf_counter()
    with open(csv_path, newline="") as fh:
        for row in csv.DictReader(fh):
            text = textwrap.fill(row["instruction"].removesuffix("\n"), width=15)
            for idx in range(1, 4):
                text += f"\n{idx}. "
            font = ImageFont.truetype(font_file, 80)
            im = Image.new("RGB", (760, 760), "#FFFFFF")
            ImageDraw.Draw(im).text((20, 10), text, spacing=11, font=font, fill="#000000")
            im.save(out / f"{row['dataset']}_{row['category_id']}_{row['task_id']}.png")
    return time.perf_counter() - t0


def project_way(csv_path: Path, out: Path, workers: int | None) -> float:
    from unmask.cli import main

    argv = ["attack", "figstep", str(csv_path), "-o", str(out)] + (["--workers", str(workers)] if workers else [])
    t0 = time.perf_counter()
    try:
        main(argv)
    except SystemExit as exc:
        if exc.code:
            raise
    return time.perf_counter() - t0


def compare(plain: Path, project: Path) -> tuple[int, int, int, int]:
    """(pairs compared, pairs with different pixels, plain bytes, project bytes)."""
    import orjson

    from unmask.data.images import pil_open

    n = bad = pb = qb = 0
    for line in (project / "samples.jsonl").read_bytes().splitlines():
        s = orjson.loads(line)
        a, b = plain / f"{s['id']}.png", project / s["image"]
        with pil_open(a) as ia, pil_open(b) as ib:
            same = ia.mode == ib.mode and ia.size == ib.size and ia.tobytes() == ib.tobytes()
        n += 1
        bad += not same
        pb += a.stat().st_size
        qb += b.stat().st_size
    return n, bad, pb, qb


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500, help="images to render (default 500)")
    ap.add_argument("--workers", type=int, default=None, help="unmask attack --workers (default: its own)")
    ap.add_argument("--no-subprocess", action="store_true", help="skip the extra subprocess timing")
    ap.add_argument("--repeat", type=int, default=1, help="rounds of both ways, interleaved; best time shown")
    args = ap.parse_args()

    from unmask.attacks.fonts import FIGSTEP_FONT, font_path

    font_file = str(font_path(FIGSTEP_FONT))
    walls: dict[str, list[float]] = {"plain": [], "project": []}
    cpus: dict[str, list[float]] = {"plain": [], "project": []}
    with tempfile.TemporaryDirectory(prefix="bench_figstep_") as tmp:
        tmp = Path(tmp)
        questions = tmp / "safebench.csv"
        write_questions(questions, args.n)
        for r in range(args.repeat):  # interleaved, so both ways meet the same machine load
            for p in (tmp / "plain", tmp / "project"):
                shutil.rmtree(p, ignore_errors=True)
            c0 = cpu_seconds()
            walls["plain"].append(plain_way(questions, tmp / "plain", font_file))
            c1 = cpu_seconds()
            walls["project"].append(project_way(questions, tmp / "project", args.workers))
            cpus["plain"].append(c1 - c0)
            cpus["project"].append(cpu_seconds() - c1)
            print(f"round {r + 1}: plain {walls['plain'][-1]:.2f} s, project {walls['project'][-1]:.2f} s",
                  file=sys.stderr)
        n, bad, pb, qb = compare(tmp / "plain", tmp / "project")
        t_sub = None
        if not args.no_subprocess:
            cmd = [sys.executable, "-m", "unmask", "attack", "figstep", str(questions), "-o", str(tmp / "sub")]
            cmd += ["--workers", str(args.workers)] if args.workers else []
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            t_sub = time.perf_counter() - t0

    t_plain, t_proj = min(walls["plain"]), min(walls["project"])
    c_plain, c_proj = min(cpus["plain"]), min(cpus["project"])
    best = f"best of {args.repeat}" if args.repeat > 1 else "one round"
    print(f"images: {args.n}   cpus: {os.cpu_count()}   load: {os.getloadavg()[0]:.1f}   "
          f"workers: {args.workers or 'default'}   times: {best}")
    print(f"plain way   (font per image, PIL, PNG defaults): {t_plain:7.2f} s  {args.n / t_plain:7.1f} img/s  "
          f"cpu {c_plain:6.2f} s  {pb / max(n, 1) / 1e3:6.1f} kB/img")
    print(f"unmask attack figstep (in-process):             {t_proj:7.2f} s  {args.n / t_proj:7.1f} img/s  "
          f"cpu {c_proj:6.2f} s  {qb / max(n, 1) / 1e3:6.1f} kB/img")
    if t_sub is not None:
        print(f"unmask attack figstep (subprocess, with start-up): {t_sub:5.2f} s  "
              f"ratio {t_plain / t_sub:.1f}x")
    print(f"pixels: {n - bad}/{n} images identical" + ("" if not bad else "  <-- MISMATCH"))
    print(f"cpu time ratio: {c_plain / c_proj:.1f}x")
    print(f"speed-up (wall): {t_plain / t_proj:.1f}x  (goal >= 5x)")
    return 1 if bad or n != args.n else 0


if __name__ == "__main__":
    sys.exit(main())
