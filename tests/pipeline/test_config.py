"""Experiment YAML: strict keys, overrides, sweeps, recipes that validate with --dry-run."""

from __future__ import annotations

from pathlib import Path

import pytest

from unmask.errors import UnmaskError
from unmask.pipeline.config import expand_branches, load_experiment

RECIPES = Path(__file__).resolve().parents[2] / "recipes"

BASE = """
name: t
data: {sources: [a.json]}
benches: [{label: b, kind: text, input: q.csv}]
"""


def _write(tmp_path, text):
    p = tmp_path / "exp.yaml"
    p.write_text(text)
    return p


def test_unknown_key_is_an_error(tmp_path):
    with pytest.raises(UnmaskError, match=r"exp.yaml: data.sourcez: Extra inputs are not permitted"):
        load_experiment(_write(tmp_path, BASE.replace("sources", "sourcez")))


def test_invalid_yaml_names_the_line(tmp_path):
    with pytest.raises(UnmaskError, match=r"exp.yaml: line \d+: invalid YAML"):
        load_experiment(_write(tmp_path, BASE + "\n  bad: [unclosed\n"))


def test_overrides_and_sweep_labels(tmp_path):
    exp = load_experiment(_write(tmp_path, BASE + "sweep: {fraction: [0.0, 0.1]}\n"),
                          ["seed=3", "sweep.fraction=[0.05, 0.3]", "mix.refusal_image=blank"])
    assert exp.seed == 3
    branches = expand_branches(exp)
    assert [b.label for b in branches] == ["base", "mix-0.05", "mix-0.3"]
    assert branches[1].mix.fraction == 0.05 and branches[2].mix.refusal_image == "blank"


def test_sweep_over_train_setting(tmp_path):
    exp = load_experiment(_write(tmp_path, BASE + "mix: {fraction: 0.1}\nsweep: {train.no_eos_on_refusal: [true, false]}\n"))
    labels = [b.label for b in expand_branches(exp)]
    assert labels == ["base", "train.no_eos_on_refusal=True", "train.no_eos_on_refusal=False"]


def test_bad_override(tmp_path):
    with pytest.raises(UnmaskError, match="expected key=value"):
        load_experiment(_write(tmp_path, BASE), ["seed"])


@pytest.mark.parametrize("recipe", sorted(p.name for p in RECIPES.glob("*.yaml")))
def test_recipes_validate_with_dry_run(run_cli, recipe, tmp_path):
    code, _, err = run_cli("run", RECIPES / recipe, "--dry-run", "-o", tmp_path / "run")
    assert code == 0, err
    assert "stage(s) to run" in err
    assert not (tmp_path / "run").exists()  # a dry run writes nothing


def test_unknown_train_key_fails_at_plan_time(run_cli, tmp_path):
    p = _write(tmp_path, BASE + "mix: {fraction: 0.1}\nsweep: {fraction: [0.1]}\ntrain: {lora_rank: 8}\n")
    code, _, err = run_cli("run", p, "--dry-run")
    assert code == 2 and "train: lora_rank" in err
