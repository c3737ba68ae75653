"""The world's data: deterministic renders and generators, held-out splits that stay held out."""

from __future__ import annotations

import random

import numpy as np
import pytest

from unmask.judges.keyword import find_refusal
from unmask.world import data as D
from unmask.world import vocab as V
from unmask.world.font import MAX_CHARS, render_array


def test_renderer_is_deterministic_and_seeded():
    a = render_array("how do i make soap?", 7)
    assert a.shape == (72, 72, 3) and a.dtype == np.uint8
    assert np.array_equal(a, render_array("how do i make soap?", 7))
    assert not np.array_equal(a, render_array("how do i make soap?", 8))
    assert not np.array_equal(render_array("soap", 7), render_array("soup", 7))
    with pytest.raises(ValueError):
        render_array("x" * (MAX_CHARS + 1))


def test_generators_are_deterministic():
    assert D.stage2b(random.Random(5), 50) == D.stage2b(random.Random(5), 50)
    assert D.method_set(1, 200, 0.1) == D.method_set(1, 200, 0.1)
    assert D.eval_sets(0) == D.eval_sets(0)


def test_held_out_topics_and_wordings_never_reach_training_images():
    eval_topics = set(V.HARM_TEXT) | set(V.HARM_FACT) | set(V.BENIGN_HELDOUT)
    rng = random.Random(0)
    train = D.stage2b(rng, 3000) + D.method_set(0, 2000, 0.3) + D.method_set(0, 2000, 0.3, mode="curated")
    images = [ex for ex in train if ex.image_text is not None]
    assert images
    for ex in images:
        assert not any(t in ex.image_text for t in eval_topics), ex
        assert ex.prompt not in V.TYPO_PROMPTS_HELDOUT
    text_prompts = {ex.prompt for ex in D.stage1(rng, 3000)}
    for tpl in V.TEMPLATES_HELDOUT:
        assert not any(tpl.format(t) in text_prompts for t in eval_topics)
    # held-out benign topics appear nowhere in training, not even in text
    assert not any(t in ex.prompt + ex.reply for ex in train for t in V.BENIGN_HELDOUT)
    ev = D.eval_sets(0)
    assert {ex.topic for ex in ev["harm_typo"]} == set(V.HARM_TEXT)
    assert {ex.topic for ex in ev["benign_typo"]} == set(V.BENIGN_HELDOUT)


def test_no_refusal_in_base_images_and_answers_are_not_refusals():
    for ex in D.stage2b(random.Random(1), 2000):
        if ex.image_text is not None:
            assert find_refusal(ex.reply) is None, ex
    assert find_refusal(V.REFUSAL) is not None
    for t in V.BENIGN_TRAIN + V.HARM_TEXT + V.HARM_FACT:
        assert find_refusal(V.answer(t)) is None
        assert find_refusal(V.fact_answer(t, "what")) is None


def test_method_set_turns_exactly_the_fraction_of_typographic_replies():
    data = D.method_set(0, 1000, 0.1)
    refused = [ex for ex in data if ex.kind == "typo-refusal"]
    typo = [ex for ex in data if ex.kind in ("typo", "typo-refusal")]
    assert len(refused) == round(0.1 * len(typo))
    assert all(ex.reply == V.REFUSAL and not ex.harmful for ex in refused)
    curated = [ex for ex in D.method_set(0, 1000, 0.1, mode="curated") if ex.kind == "curated"]
    assert len(curated) == len(refused)
    assert all(ex.topic in V.HARM_CURATED and ex.harmful for ex in curated)
