"""`recipes/llava15-7b-paper.yaml` holds the paper's choices, as read from its code (values checked here)."""

from __future__ import annotations

from pathlib import Path

from unmask.pipeline.config import load_experiment
from unmask.pipeline.stages import build_plan
from unmask.train import TrainConfig

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "llava15-7b-paper.yaml"


def test_training_matches_the_papers_lora_script():
    exp = load_experiment(RECIPE)
    cfg = TrainConfig(data="-", model="-", out="-", **exp.train)  # every key is a real TrainConfig setting
    # LLaVA/scripts/v1_5/finetune_task_lora.sh in the paper's code
    assert (cfg.method, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout) == ("lora", 128, 256, 0.05)
    assert (cfg.lr, cfg.train_projector, cfg.projector_lr, cfg.weight_decay) == (2e-4, True, 2e-5, 0.0)
    assert (cfg.epochs, cfg.scheduler, cfg.warmup_ratio, cfg.max_length) == (3, "cosine", 0.03, 2048)
    assert cfg.batch_size * cfg.grad_accum * exp.launch.num_processes == 4 * 16 * 2  # global batch 128
    assert cfg.no_eos_on_refusal and cfg.precision == "bf16"


def test_evaluation_matches_the_papers_scripts():
    exp = load_experiment(RECIPE)
    gens = {st.label.split("/")[-1]: st.params["generate"] for st in build_plan(exp).plan.stages
            if st.kind == "generate" and st.label.startswith("generate/benign-refusal/")}
    # evaluation/evaluate_figstep_llava.py: temperature 0.2 (sampled), 512 new tokens
    assert gens["figstep"]["do_sample"] is True and gens["figstep"]["temperature"] == 0.2
    assert gens["figstep"]["max_new_tokens"] == 512
    # evaluate_MM_llava_ablation.py: temperature 0 (greedy), 512 new tokens
    assert not gens["mmsb-sd-typo"].get("do_sample") and gens["mmsb-sd-typo"]["max_new_tokens"] == 512
    figstep = next(b for b in exp.benches if b.label == "figstep")
    assert figstep.options["prompt_style"] == "paper"
    assert "paper" in [j.name for j in exp.judges]
