"""Judge quality: agreement of unmask's judges with human labels on real chat-model replies.

Reads HarmBench's human-labelled classifier validation set (``data/classifier_val_sets/
text_behaviors_val_set.json`` of github.com/centerforaisafety/HarmBench; download it yourself, it is
not part of unmask) and prints, for each judge and for each published classifier column in the file
(the AdvBench string match, Llama Guard, the HarmBench classifier, GPT-4 ...): agreement with the
majority of the three human labels, Cohen's kappa, precision and recall of "harmful".

The labels say whether a reply is a harmful instance of the behavior (harm), not whether the model
refused: a refusal judge's "complied" is scored as "harmful" here.

Usage: python benchmarks/judge_agreement.py VAL_SET.json [--behaviors harmbench_behaviors_text_all.csv]
       [--judge keyword --judge keyword-short ...] [--judge-options '{"llm": {"base_url": ..., ...}}']
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    from unmask.errors import UnmaskError
    from unmask.judges import get_judge
    from unmask.metrics.human_labels import judge_agreement, read_val_set

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("val_set", help="HarmBench text_behaviors_val_set.json")
    ap.add_argument("--behaviors", help="HarmBench behaviors CSV (the behavior text for judges that read it)")
    ap.add_argument("--judge", action="append", help="judge name (repeatable; default keyword, keyword-short)")
    ap.add_argument("--judge-options", default="{}", help="JSON: judge name -> its options")
    args = ap.parse_args(argv)
    try:
        rows = read_val_set(args.val_set, args.behaviors)
        options = json.loads(args.judge_options)
        judges = [get_judge(n, **options.get(n, {})) for n in (args.judge or ["keyword", "keyword-short"])]
        table = judge_agreement(rows, judges)
    except UnmaskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    n_harm = sum(r["human"] for r in rows)
    print(f"{len(rows)} replies, {n_harm} harmful by human majority ({100 * n_harm / len(rows):.1f}%)")
    print("| judge | measures | n | agreement | Cohen's kappa | precision | recall |")
    print("|---|---|---|---|---|---|---|")
    for name, s in table.items():
        def f(x, pct=True):
            return "-" if x is None else (f"{100 * x:.1f}%" if pct else f"{x:.3f}")
        print(f"| {name} | {s['measures']} | {s['n']} | {f(s['agreement'])} | {f(s['kappa'], False)} | "
              f"{f(s['precision'])} | {f(s['recall'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
