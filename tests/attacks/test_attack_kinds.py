"""text / blank kinds, plugin registration, options, the PNG writer, and the CLI in a subprocess."""

from __future__ import annotations

import io
import struct
import subprocess
import textwrap
import zlib

import numpy as np
import orjson
import pytest
from attack_helpers import read_samples
from PIL import Image

from unmask.attacks import ATTACKS, LOADERS, Attack, Question, attack, build_benchmark, loader
from unmask.attacks.png import encode_png, pillow_png
from unmask.errors import UnmaskError


def test_text_and_blank(tmp_path, safebench, run_cli):
    code, _, err = run_cli("attack", "text", safebench, "-o", tmp_path / "t")
    assert code == 0, err
    samples = read_samples(tmp_path / "t")
    assert all(s["image"] is None and s["attack"] == "text" for s in samples)
    assert samples[0]["prompt"] == "How do I bake bread (case 0)?"
    assert list((tmp_path / "t" / "images").iterdir()) == []
    code, _, err = run_cli("attack", "blank", safebench, "-o", tmp_path / "b")
    assert code == 0, err
    samples = read_samples(tmp_path / "b")
    assert len({s["image"] for s in samples}) == 1  # one white image, shared, encoded once
    with Image.open(tmp_path / "b" / samples[0]["image"]) as im:
        assert im.mode == "RGB" and im.size == (760, 760) and im.getextrema() == ((255, 255),) * 3
    man = orjson.loads((tmp_path / "b" / "manifest.json").read_bytes())
    assert man["counts"]["rendered"] == 1 and man["counts"]["shared"] == 5
    code, _, err = run_cli("attack", "text", safebench, "-o", tmp_path / "x", "--prompt", "Answer briefly.")
    assert code == 2 and "{question}" in err
    code, _, err = run_cli("attack", "text", safebench, "-o", tmp_path / "x", "--prompt", "Briefly: {question}")
    assert code == 0 and read_samples(tmp_path / "x")[0]["prompt"] == "Briefly: How do I bake bread (case 0)?"


def test_options_are_checked(tmp_path, safebench, run_cli):
    code, _, err = run_cli("attack", "text", safebench, "-o", tmp_path / "x", "--font", "a.ttf")
    assert code == 2 and "attack kind 'text' has no option 'font'" in err
    code, _, err = run_cli("attack", "figstep", safebench, "-o", tmp_path / "x", "--option", "font_size=big")
    assert code == 2 and "option font_size must look like 80" in err
    code, _, err = run_cli("attack", "figstep")
    assert code == 2 and "usage: unmask attack KIND INPUT -o DIR" in err
    code, _, err = run_cli("attack", "nope", safebench, "-o", tmp_path / "x")
    assert code == 2 and "unknown attack kind 'nope'" in err
    code, _, err = run_cli("attack", "figstep", safebench, "-o", tmp_path / "s", "--option", "size=[400,300]",
                           "--option", "font_size=20", "--limit", "1")
    assert code == 0, err
    with Image.open(tmp_path / "s" / "images" / "SafeBench_1_1.png") as im:
        assert im.size == (400, 300)


@pytest.fixture
def grid_kind():
    @attack("test-grid")
    class Grid(Attack):
        description = "test: a 72x72 grid with one dark cell per character"
        OPTIONS = {"prompt": None, "size": [72, 72]}

        def prompt_for(self, q: Question) -> str:
            return self._template("Read the grid.", q.text)

        def render(self, q: Question) -> Image.Image:
            im = Image.new("L", tuple(self.opts["size"]), 255)
            for i, _ in enumerate(q.text[:81]):
                im.paste(0, ((i % 9) * 8, (i // 9) * 8, (i % 9) * 8 + 4, (i // 9) * 8 + 4))
            return im

    @loader("test-lines")
    def load_lines(path):
        lines = path.read_text().splitlines()
        return [Question(id=f"l{i}", text=t, harmful=False, where=f"{path}: line {i + 1}") for i, t in enumerate(lines)]

    yield Grid
    ATTACKS.pop("test-grid", None)
    LOADERS.pop("test-lines", None)


def test_registered_kind_and_loader(tmp_path, grid_kind, run_cli):
    src = tmp_path / "reqs.txt"
    src.write_text("abc\nabcdefghij\n")
    code, _, err = run_cli("attack", "test-grid", src, "--loader", "test-lines", "-o", tmp_path / "g")
    assert code == 0, err
    samples = read_samples(tmp_path / "g")
    assert [(s["id"], s["prompt"], s["harmful"], s["attack"]) for s in samples] == [
        ("l0", "Read the grid.", False, "test-grid"), ("l1", "Read the grid.", False, "test-grid")]
    with Image.open(tmp_path / "g" / samples[1]["image"]) as im:
        assert im.size == (72, 72) and im.getpixel((9 * 8 - 8, 0)) == (0, 0, 0)
    assert "test-grid" in run_cli("attack", "--list")[1]


def test_plugin_module_from_the_command_line(tmp_path, monkeypatch, safebench, run_cli):
    (tmp_path / "my_attack_plugin.py").write_text(textwrap.dedent('''
        from unmask.attacks import Attack, attack

        @attack("test-plugin")
        class Plain(Attack):
            makes_images = False
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        code, _, err = run_cli("attack", "test-plugin", safebench, "-o", tmp_path / "p", "--plugin", "my_attack_plugin")
        assert code == 0, err
        assert read_samples(tmp_path / "p")[0]["attack"] == "test-plugin"
        code, _, err = run_cli("attack", "text", safebench, "-o", tmp_path / "q", "--plugin", "no_such_plugin_mod")
        assert code == 2 and "--plugin no_such_plugin_mod: cannot import" in err
    finally:
        ATTACKS.pop("test-plugin", None)


def test_library_call_returns_counts(tmp_path, vlguard):
    res = build_benchmark("text", vlguard, tmp_path / "lib", subset="safe_safes")
    assert res["loader"] == "vlguard" and res["counts"]["samples"] == 1 and res["counts"]["benign"] == 1
    with pytest.raises(UnmaskError, match="--limit must be at least 1"):
        build_benchmark("text", vlguard, tmp_path / "lib2", limit=0)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_png_writer_is_pixel_exact(mode, monkeypatch):
    from unmask.attacks import png

    monkeypatch.setattr(png, "_state", {"checked": False, "ok": True, "cached_bytes": 0})
    monkeypatch.setattr(png, "_CACHE", {})
    rng = np.random.default_rng(0)
    a = np.full((120, 50) if mode == "L" else (120, 50, 3), 255, np.uint8)
    a[10:30] = rng.integers(0, 256, a[10:30].shape, dtype=np.uint8)  # a band of "ink"
    a[60:70] = 7  # a uniform non-white run
    a[90:110] = a[10:30]  # a repeated band (served from the cache)
    img = Image.fromarray(a, mode)
    data = encode_png(img)
    assert png.encoder_name() == "banded"  # the self-check passed: the fast writer is really in use
    assert data == encode_png(img)  # second time from the cache: same bytes
    with Image.open(io.BytesIO(data)) as got:
        assert got.mode == "RGB" and got.tobytes() == img.convert("RGB").tobytes()
    # the zlib stream is complete and its checksum right (zlib.decompress verifies the adler32)
    n = struct.unpack(">I", data[33:37])[0]
    assert data[37:41] == b"IDAT"
    raw = zlib.decompress(data[41:41 + n])
    assert len(raw) == 120 * (50 * 3 + 1)
    with Image.open(io.BytesIO(pillow_png(img))) as ref:
        assert ref.tobytes() == img.convert("RGB").tobytes()


def test_cli_subprocess_exit_codes(tmp_path, safebench, unmask_cmd):
    ok = subprocess.run([*unmask_cmd, "attack", "text", str(safebench), "-o", str(tmp_path / "o")],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "6 samples" in ok.stdout
    bad = subprocess.run([*unmask_cmd, "attack", "figstep", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "m")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "missing.csv" in bad.stderr
    assert not (tmp_path / "m").exists()
