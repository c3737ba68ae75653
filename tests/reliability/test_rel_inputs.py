"""Hostile inputs: every file of ``bad_inputs/`` (plus a few made here: 10 MB fields, a symlink out of the
image root) through the command a user would run it through. Each must give exactly one line on stderr
naming the file and the record, exit code 2, no output (not even a temporary file), no warning and no
traceback (tracebacks only with ``--debug``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

CORPUS = Path(__file__).with_name("bad_inputs")

# command -> argv template ({f}: the bad file, {o}: an empty output folder)
COMMANDS = {
    "mix": ["mix", "{f}", "-o", "{o}/mix.json", "--fraction", "0.5", "--seed", "1"],
    "mix-untouched": ["mix", "{f}", "-o", "{o}/mix.json", "--fraction", "0"],  # every record copied as it is
    "convert": ["convert", "{f}", "-o", "{o}/out.jsonl", "--check-images"],
    "judge": ["judge", "{f}", "-o", "{o}/verdicts.jsonl"],
    "metrics": ["metrics", "{f}", "-o", "{o}/metrics.json"],
    "attack": ["attack", "figstep", "{f}", "-o", "{o}/bench", "--loader", "safebench", "--workers", "1"],
    "attack-mmsb": ["attack", "mmsb-typo", "{f}", "-o", "{o}/bench", "--loader", "mmsb", "--workers", "1"],
    "run": ["run", "{f}", "-o", "{o}/run"],
    "run-dry": ["run", "{f}", "-o", "{o}/run", "--dry-run"],  # what a dry run passes, the run must not fail on
    "run-override": ["run", "{f}", "-o", "{o}/run", "--dry-run", "seed=[1", "train.max_steps=2"],
    "metrics-mc": ["metrics", "{f}", "-o", "{o}/metrics.json", "--utility", "mc"],
    "report": ["report", "{f}", "-o", "{o}/report.html"],
    "generate": ["generate", "--model", "tiny", "--bench", "{f}", "-o", "{o}/gen.jsonl", "--max-new-tokens", "2",
                 "--no-progress"],
    "train": ["train", "{f}", "--model", "tiny", "-o", "{o}/tr", "--max-steps", "1", "--no-progress"],
}

# (file, command, substrings the error line must hold besides the file's name)
CASES = [
    # --- JSON / JSONL records through `unmask mix`
    ("truncated.json", "mix", ["record 2", "truncated JSON"]),
    ("invalid_syntax.json", "mix", ["record 1", "invalid JSON"]),
    ("top_level_string.json", "mix", ["byte 0", "not JSON"]),
    ("record_not_object.json", "mix", ["record 1", "must be an object"]),
    ("conversations_wrong_type.json", "mix", ["record 1", "conversations"]),
    ("value_wrong_type.json", "mix", ["record 1", "'value' must be a string"]),
    ("missing_conversations.json", "mix", ["record 1", "conversations"]),
    ("missing_value.json", "mix", ["record 1", "'value'"]),
    ("empty_conversations.json", "mix", ["record 1", "empty"]),
    ("no_assistant_reply.json", "mix", ["record 1", "no assistant reply"]),
    ("unknown_role.json", "mix", ["record 1", "unknown role 'bot'"]),
    ("empty.json", "mix", ["empty file"]),
    ("non_utf8.json", "mix", ["record 1", "UTF-8"]),
    ("truncated.jsonl", "mix", ["line 3", "truncated JSON"]),
    ("invalid_line.jsonl", "mix", ["line 3", "invalid JSON"]),
    ("whitespace_only.jsonl", "mix", ["empty file"]),
    ("non_utf8.jsonl", "mix", ["line 3", "UTF-8"]),
    ("messages_unknown_role.jsonl", "mix", ["record 1", "unknown role 'tool'"]),
    ("messages_bad_part.jsonl", "mix", ["record 1", "unknown content part"]),
    ("messages_empty.jsonl", "mix", ["record 1", "messages"]),
    ("messages_markers_mismatch.jsonl", "mix", ["record 1", "2 '<image>' marker(s)", "1 image(s)"]),
    ("huge_field_truncated.json", "mix", ["record 1", "truncated JSON"]),
    # --- records with bad types, markers and images through `unmask convert --check-images`
    ("id_wrong_type.json", "convert", ["record 1", "'id' must be a string or an integer"]),
    ("metadata_not_object.json", "convert", ["record 1", "'metadata' must be an object"]),
    ("image_wrong_type.json", "convert", ["record 1", "'image' must be a path"]),
    ("image_markers_too_many.json", "convert", ["record 1", "2 '<image>' marker(s)", "1 image(s)"]),
    ("image_markers_too_few.json", "convert", ["record 1", "1 '<image>' marker(s)", "2 image(s)"]),
    ("image_marker_without_image.json", "convert", ["record 1", "0 image(s)"]),
    ("image_escapes_root.json", "convert", ["record 1", "escapes the image root"]),
    ("image_absolute_path.json", "convert", ["record 1", "escapes the image root"]),
    ("image_symlink_out.json", "convert", ["record 1", "escapes the image root"]),
    ("image_missing.json", "convert", ["record 1", "not found"]),
    ("image_corrupt.json", "convert", ["record 1", "cannot be decoded"]),
    ("image_zero_bytes.json", "convert", ["record 1", "cannot be decoded"]),
    ("image_truncated.json", "convert", ["record 1", "cannot be decoded"]),
    ("image_bomb.json", "convert", ["record 1", "too large to decode safely", "900000000 pixels"]),
    ("image_bomb_moderate.json", "convert", ["record 1", "too large to decode safely", "144000000 pixels"]),
    ("huge_field_role.json", "convert", ["record 0", "unknown role", "characters"]),
    # (round two) pictures that are not raster images, decoded only in part, or synthetic with bad parameters
    ("image_eps.json", "convert", ["record 1", "cannot be decoded"]),  # EPS body in a .png: never Ghostscript
    ("image_jpeg_half.json", "convert", ["record 1", "cannot be decoded"]),  # verify() passes it; load() does not
    ("image_synthetic_bad.json", "convert", ["record 1", "seed must be between 0 and"]),
    # --- the same records through `unmask mix` (its fast path: the one row check and the image root, as above)
    *[(f, "mix-untouched", ["record 1"])
      for f in ("id_wrong_type.json", "metadata_not_object.json", "image_wrong_type.json",
                "image_markers_too_many.json", "image_markers_too_few.json", "image_marker_without_image.json",
                "image_escapes_root.json", "image_absolute_path.json", "image_symlink_out.json")],
    # --- generations through `unmask judge`
    ("gen_missing_response.jsonl", "judge", ["line 2", "missing field 'response'"]),
    ("gen_response_wrong_type.jsonl", "judge", ["line 2", "'response' must be text"]),
    ("gen_duplicate_id.jsonl", "judge", ["line 3", "duplicate id"]),
    ("gen_truncated.jsonl", "judge", ["line 3", "invalid JSON"]),
    ("gen_harmful_not_bool.jsonl", "judge", ["line 2", "'harmful'"]),
    ("gen_empty.jsonl", "judge", ["empty file"]),
    ("huge_field_id.jsonl", "judge", ["line 3", "duplicate id", "characters"]),
    # --- verdicts through `unmask metrics`
    ("verdicts_bad_value.jsonl", "metrics", ["line 2", "verdict 'maybe'"]),
    ("verdicts_missing_judge.jsonl", "metrics", ["line 2", "missing field 'judge'"]),
    ("verdicts_truncated.jsonl", "metrics", ["line 3", "invalid JSON"]),
    ("verdicts_non_utf8.jsonl", "metrics", ["line 2", "UTF-8"]),
    ("verdicts_measures_list.jsonl", "metrics", ["line 2", "'measures' must be one of refusal, harm"]),
    ("utility_mc_bad_answer.jsonl", "metrics-mc", ["line 2", "'answer' -1 is not an option"]),
    # --- run folders through `unmask report`
    ("report_malformed_metrics", "report", ["metrics.json", "overall.asr: must be a number or null"]),
    ("report_symlinked_summary", "report", ["summary.json", "a symlink out of the run folder"]),
    # --- question sets through `unmask attack`
    ("safebench_truncated.csv", "attack", ["record 2"]),
    ("safebench_missing_column.csv", "attack", ["line 1", "missing column(s) instruction"]),
    ("safebench_empty_instruction.csv", "attack", ["record 1", "empty 'instruction'"]),
    ("safebench_non_utf8.csv", "attack", ["not UTF-8", "line 3"]),
    # text the image would not show (issue 14 item 10): empty boxes, control characters, no ink at all
    ("safebench_cjk.csv", "attack", ["record 1", "line 3", "no glyph in FreeMonoBold.ttf", "U+5236", "--font"]),
    ("safebench_emoji.csv", "attack", ["record 1", "no glyph in FreeMonoBold.ttf", "U+1F9EA"]),
    ("safebench_control.csv", "attack", ["record 1", "control character", "U+0007"]),
    ("safebench_zero_width.csv", "attack", ["record 1", "no visible character"]),
    ("mmsb_key_phrase_cjk_emoji.json", "attack-mmsb", ["record 1", "no glyph in LiberationSans-Regular.ttf",
                                                        "U+7269", "U+1F9EA"]),
    # --- experiments through `unmask run`
    ("experiment_unknown_key.yaml", "run", ["trian"]),
    ("experiment_invalid.yaml", "run", ["line 3", "invalid YAML"]),
    # (round two) experiments a dry run used to pass (then the run failed or wrote elsewhere) or crashed on
    ("experiment_label_escapes.yaml", "run-dry", ["benches.0.label", "'../../../escaped' is not a name"]),
    ("experiment_judge_name.yaml", "run-dry", ["judges.0.name", "is not a name"]),
    ("experiment_non_string_key.yaml", "run-dry", ["1: a key must be a string, not int"]),
    ("experiment_non_utf8.yaml", "run-dry", ["line 4", "not valid UTF-8"]),
    ("experiment_folder.yaml", "run-dry", ["is a folder"]),
    ("experiment_deep.yaml", "run-dry", ["nested deeper than"]),
    ("experiment_anchor_bomb.yaml", "run-dry", ["expands to more than 100000 values"]),
    ("experiment_for_override.yaml", "run-override", ["override 'seed=[1'", "line 1: invalid YAML"]),
    ("experiment_sweep_fraction.yaml", "run-dry", ["sweep.fraction", "fraction must be within [0, 1], got -0.5"]),
    ("experiment_unknown_kind.yaml", "run-dry", ["benches.0", "unknown attack kind 'figstpe'"]),
    ("experiment_model_missing.yaml", "run-dry", ["model.name", "no such model folder"]),
    # --- benchmark folders through `unmask generate`
    ("bench_missing_prompt", "generate", ["line 2", "prompt"]),
    ("bench_duplicate_id", "generate", ["line 3", "duplicate sample id"]),
    ("bench_image_escapes", "generate", ["'s1'", "escapes the image root"]),
    ("bench_image_bomb", "generate", ["'s1'", "too large to decode safely"]),
    ("bench_image_zero_bytes", "generate", ["'s1'", "cannot be decoded"]),
    ("bench_image_eps", "generate", ["'s1'", "cannot be decoded"]),
    # --- training records through `unmask train` (the model loads first; nothing may be written)
    ("unknown_role.json", "train", ["record 1", "unknown role"]),
    ("image_escapes_root.json", "train", ["record 1", "escapes the image root"]),
    ("image_corrupt.json", "train", ["record 1", "cannot be decoded"]),
    ("image_bomb_moderate.json", "train", ["record 1", "too large to decode safely"]),
    ("image_eps.json", "train", ["record 1", "cannot be decoded"]),
    ("image_synthetic_bad.json", "train", ["record 1", "seed must be between 0 and"]),
]

_TEN_MB = "x" * (10 << 20)


def _ok(i: int) -> dict:
    return {"id": f"r{i}", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "ok"}]}


def _huge(corpus: Path, name: str) -> None:
    """The files with a 10 MB field, written only for the case that reads them."""
    if name == "huge_field_role.json":
        bad_role = _ok(0)
        bad_role["conversations"][1]["from"] = _TEN_MB  # the error must not quote 10 MB
        (corpus / name).write_text(json.dumps([bad_role, _ok(1)]))
    elif name == "huge_field_truncated.json":
        text = json.dumps([_ok(0), {**_ok(1), "conversations": [{"from": "human", "value": _TEN_MB},
                                                                {"from": "gpt", "value": "ok"}]}])
        (corpus / name).write_text(text[: len(text) // 2])  # ends inside the 10 MB string
    elif name == "huge_field_id.jsonl":
        rows = [{"id": "g0", "response": "x"}, {"id": _TEN_MB, "response": "x"}, {"id": _TEN_MB, "response": "y"}]
        (corpus / name).write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    dest = tmp_path / "bad_inputs"
    shutil.copytree(CORPUS, dest)
    outside = tmp_path / "outside.png"
    shutil.copy(CORPUS / "images" / "ok.png", outside)
    (dest / "images" / "link_out.png").symlink_to(outside)  # a symlink out of the image root
    summary = tmp_path / "elsewhere" / "summary.json"  # a run folder whose summary.json points out of it
    summary.parent.mkdir()
    summary.write_text('{"m": {"b": {"keyword": {"asr": 0.5}}}}')
    (dest / "report_symlinked_summary").mkdir()
    (dest / "report_symlinked_summary" / "summary.json").symlink_to(summary)
    return dest


@pytest.fixture
def fake_ghostscript(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``gs`` first on PATH that leaves a marker file: PIL runs ``gs`` to decode EPS. No case may run it."""
    marker = tmp_path / "ghostscript-ran"
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    gs = bin_dir / "gs"
    gs.write_text(f"#!/bin/sh\ntouch '{marker}'\nexit 1\n")
    gs.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return marker


def test_corpus_is_large_and_every_file_is_used() -> None:
    files = sorted(p.name for p in CORPUS.iterdir() if p.name != "images")
    used = {c.values[0] if hasattr(c, "values") else c[0] for c in CASES}
    assert len(files) + len(list((CORPUS / "images").iterdir())) >= 30
    assert set(files) <= used, f"corpus files no case runs: {sorted(set(files) - used)}"


@pytest.mark.parametrize("name,command,expect", CASES)
def test_bad_input_is_one_line_exit_2_no_output(name, command, expect, corpus, tmp_path, run_cli, fake_ghostscript):
    _huge(corpus, name)
    out = tmp_path / "out"
    out.mkdir()
    argv = [a.replace("{f}", str(corpus / name)).replace("{o}", str(out)) for a in COMMANDS[command]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # a warning would be more lines on the user's stderr
        code, stdout, stderr = run_cli(*argv)
    lines = stderr.strip().splitlines()
    assert code == 2, f"exit {code}; stderr: {stderr[-2000:]}"
    assert len(lines) == 1, f"expected one line, got {len(lines)}: {stderr[-2000:]}"
    line = lines[0]
    assert line.startswith("error: ") and "Traceback" not in stderr
    assert name in line, line
    for sub in expect:
        assert sub in line, f"{sub!r} not in {line!r}"
    assert len(line) < 1200, f"error line of {len(line)} characters"
    assert not [w for w in caught if not issubclass(w.category, (DeprecationWarning, FutureWarning))], \
        [str(w.message) for w in caught]
    assert sorted(p.name for p in out.iterdir()) == [], "partial output left behind"
    assert not list(tmp_path.glob("out.*")) and not list(corpus.glob("*.tmp-*"))
    assert not fake_ghostscript.exists(), "an image was handed to Ghostscript"


@pytest.mark.parametrize("name,command", [("truncated.json", "mix"), ("image_bomb.json", "convert"),
                                          ("gen_duplicate_id.jsonl", "judge")])
def test_real_process_prints_one_line_and_debug_shows_the_traceback(name, command, corpus, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    argv = [a.replace("{f}", str(corpus / name)).replace("{o}", str(out)) for a in COMMANDS[command]]
    plain = subprocess.run([sys.executable, "-m", "unmask", *argv], capture_output=True, text=True)
    assert plain.returncode == 2
    assert len(plain.stderr.strip().splitlines()) == 1 and "Traceback" not in plain.stderr, plain.stderr
    debug = subprocess.run([sys.executable, "-m", "unmask", "--debug", *argv], capture_output=True, text=True)
    assert debug.returncode != 0 and "Traceback (most recent call last)" in debug.stderr
    assert "UnmaskError" in debug.stderr
    assert list(out.iterdir()) == []
