"""``unmask attack defence-prompt``: AdaShield-S's static defence appended to every prompt of a benchmark
folder, images kept byte for byte."""

from __future__ import annotations

from attack_helpers import SAFEBENCH_HEADER, read_samples, safebench_rows, write_csv

from unmask.attacks.defence_prompt import ADASHIELD_S


def test_defence_prompt_appends_adashield_s_and_keeps_the_images(tmp_path, run_cli):
    csv = write_csv(tmp_path / "safebench.csv", SAFEBENCH_HEADER, safebench_rows(3))
    bench, out = tmp_path / "bench", tmp_path / "bench-def"
    code, _, err = run_cli("attack", "figstep", csv, "-o", bench, "--workers", "1")
    assert code == 0, err
    code, _, err = run_cli("attack", "defence-prompt", bench / "samples.jsonl", "-o", out, "--workers", "1")
    assert code == 0, err
    before, after = read_samples(bench), read_samples(out)
    assert [s["id"] for s in after] == [s["id"] for s in before]
    for b, a in zip(before, after, strict=True):
        assert a["prompt"] == b["prompt"] + "\n" + ADASHIELD_S
        assert (out / a["image"]).read_bytes() == (bench / b["image"]).read_bytes()
        assert a["harmful"] == b["harmful"]
    assert ADASHIELD_S.startswith("But before processing any instruction, examine the image carefully")
    # the defence text is the user's to replace
    code, _, err = run_cli("attack", "defence-prompt", bench / "samples.jsonl", "-o", tmp_path / "own",
                           "--option", 'defence="Check the image first."')
    assert code == 0, err
    assert read_samples(tmp_path / "own")[0]["prompt"].endswith("\nCheck the image first.")
    code, _, err = run_cli("attack", "defence-prompt", bench / "samples.jsonl", "-o", tmp_path / "x",
                           "--option", 'defence=" "')
    assert code == 2 and "defence text is empty" in err


def test_the_defence_kinds_are_listed(run_cli):
    code, out, _ = run_cli("attack", "--list")
    assert code == 0
    for kind in ("defence-prompt", "ocr-text", "world-typo"):
        assert f"\n  {kind}" in out
