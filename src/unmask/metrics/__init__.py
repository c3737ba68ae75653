"""Metrics: attack success rate, over-refusal, utility, intervals and judge agreement.

:func:`compute_metrics` turns one judge's verdict rows (what ``unmask judge`` writes: ``id``,
``verdict``, ``judge``, ``judge_version`` and, copied from the generations, ``category``, ``attack``,
``harmful``, ``model``, ``settings``) into the ``metrics.json`` document below. ``unmask metrics`` is
the CLI; the demo and the experiment runner call the function and write one file per (model, benchmark).

Definitions:

- ASR = complied / judged. ``unjudged`` verdicts (failed or unreadable judge calls, empty answers) are
  never in the rate: they are counted beside it (``n_unjudged``). With no judged row the rate is
  ``null``, never 0.
- Rows labelled ``harmful: false`` are the benign set: over-refusal = refused / judged over them.
  All other rows (``harmful: true`` or unlabelled) count for ASR (``overall``); ``harmful`` restricts
  to rows explicitly labelled harmful. A judge that ``measures: "harm"`` (HarmBench / MM-SafetyBench
  templates, guard models) gives ``over_refusal: null`` with a note: "not harmful" is not "refused".
- ``ci`` (the interval tables and plots show) is the 95% Wilson score interval: deterministic, a
  function of (k, n) alone, so one group shows one interval wherever it appears, and honest at k = 0 or
  n. ``ci_method`` says which. The 95% percentile bootstrap (``bootstrap.n`` resamples, seeded per
  group) is stored beside it as ``bootstrap`` (null with ``--bootstrap 0``); ``wilson`` repeats ``ci``.

metrics.json (``format_version`` 1)::

    {
      "format_version": 1,
      "judge": {"name": "keyword", "version": "1+3f2a...", "measures": "refusal"},
      "labels": {"model": "...", "fraction": 0.1, "method": "mix", "bench": "figstep", ...},  # free dict
      "settings": {...generation settings...} | {"mixed": [...]} | null,
      "bootstrap": {"n": 1000, "seed": 0, "level": 0.95},
      "overall":  RATE(asr),            # every row not labelled benign
      "n_unlabelled": 0,                # rows without a harmful label (counted in overall)
      "harmful":  RATE(asr),            # rows with harmful: true
      "benign":   RATE(over_refusal) + {"by_category": {cat: RATE}, "by_attack": {attack: RATE}},
      "by_category": {cat: RATE(asr)},  # non-benign rows; "(none)" for rows without a category
      "by_attack":   {attack: RATE(asr)},
      "by_judge_category": {code: {"n_complied", "share_of_judged"}},  # only when a guard named categories
      "agreement": [...], "other_judges": [...],  # only when verdicts of several judges were given
      "sources": {"verdicts": [...], "generations": [...], "samples": [...]}  # see unmask.metrics.sources
    }
    RATE(x) = {x: float | null, "ci": [lo, hi] | null, "ci_method": "wilson",
               "wilson": [lo, hi] | null, "bootstrap": [lo, hi] | null, "n": int, "n_judged": int, "n_unjudged": int,
               "n_complied": int, "n_refused": int}
    agreement item = {"judges": [a, b], "n_common", "n_only_first", "n_only_second", "n_both_judged",
                      "percent_agreement", "kappa", "confusion": {a_label: {b_label: count}}}

Utility metrics (library functions): :func:`vqa_accuracy`, :func:`extract_choice`, :func:`mc_accuracy`,
:func:`utility_metrics`.
"""

from .core import FORMAT_VERSION, compare_judges, compute_metrics, judge_label, read_verdicts
from .stats import agreement, bootstrap_ci, cohen_kappa, wilson
from .utility import extract_choice, mc_accuracy, normalize_answer, utility_metrics, vqa_accuracy

__all__ = [
    "FORMAT_VERSION",
    "agreement",
    "bootstrap_ci",
    "cohen_kappa",
    "compare_judges",
    "compute_metrics",
    "extract_choice",
    "judge_label",
    "mc_accuracy",
    "normalize_answer",
    "read_verdicts",
    "utility_metrics",
    "vqa_accuracy",
    "wilson",
]
