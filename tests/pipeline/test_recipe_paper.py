"""`recipes/llava15-7b-paper.yaml` holds the paper's choices, as read from its code (values checked here)."""

from __future__ import annotations

from pathlib import Path

from unmask.models.train import TrainConfig
from unmask.pipeline.config import load_experiment
from unmask.pipeline.stages import build_plan

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


def _mix_with(tmp_path, mix: dict) -> list[str]:
    """Run the mix stage of a one-branch experiment; the refusal replies it wrote."""
    import json

    from unmask.pipeline.config import Experiment
    from unmask.pipeline.graph import STAGES

    src = tmp_path / "llava.json"
    src.write_text(json.dumps([{"id": f"r{i}", "conversations": [{"from": "human", "value": f"q{i}"},
                                                                  {"from": "gpt", "value": f"a{i}"}]}
                               for i in range(4)]))
    exp = Experiment(name="t", data={"sources": [str(src)]}, branches=[{"label": "m", "mix": mix}],
                     benches=[{"label": "b", "kind": "text", "input": "q.csv"}])
    st = next(s for s in build_plan(exp).plan.stages if s.kind == "mix")
    out = tmp_path / f"out-{len(list(tmp_path.iterdir()))}"
    out.mkdir()
    STAGES["mix"](st, out, {}, None)
    rows = json.loads((out / "mix.json").read_text())
    return [r["conversations"][1]["value"] for r in rows if r.get("metadata", {}).get("refusal")]


def test_mix_refusal_setting_and_the_demo_keeps_its_sentence(tmp_path):
    from unmask.world.demo import DEMO_REFUSAL, demo_experiment

    assert set(_mix_with(tmp_path, {"fraction": 0.5})) == {"I'm sorry, but I cannot assist with your request"}
    assert set(_mix_with(tmp_path, {"fraction": 0.5, "refusal": "No."})) == {"No."}
    # the tiny world's demo was measured with the sentence that had a final period: its mixes keep it
    assert DEMO_REFUSAL == "I'm sorry, but I cannot assist with your request."
    mixes = [st for st in build_plan(demo_experiment(sweep=True)).plan.stages if st.kind == "mix"]
    assert {st.params["mix"].get("refusal") for st in mixes if st.params["mix"]["rejections"] != 0} == {DEMO_REFUSAL}
    # not set: no key in the stage's settings, so existing stage keys (caches) stay valid
    recipe = [st for st in build_plan(load_experiment(RECIPE)).plan.stages if st.kind == "mix"]
    assert recipe and all("refusal" not in st.params["mix"] for st in recipe)
