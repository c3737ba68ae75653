"""Judge quality: agreement of unmask's judges with human labels on real chat-model replies.

Two public sets of real chat-model replies with human labels (download them yourself; they are not
part of unmask):

- ``--xstest FILE...``: XSTest v2's completions (github.com/paul-rottger/exaggerated-safety:
  ``model_completions/*.csv``, or ``evaluation/automated_evaluation_labels/*_{streval,gpteval}.csv``,
  which add the paper's string-match and GPT-4 labels). Labels: refusal (full or partial) or not. A
  judge's ``refused`` is scored against "refusal".
- ``--harmbench FILE``: HarmBench's classifier validation set (``data/classifier_val_sets/
  text_behaviors_val_set.json``), labelled by three people: is the reply a harmful instance of the
  behavior? A judge's ``complied`` is scored against "harmful" (a refusal judge answers another question).

Prints, for each judge and each published classifier column in the files: agreement with the human
label, Cohen's kappa, precision and recall of the positive class.

Usage: python benchmarks/judge_agreement.py (--xstest FILE... | --harmbench FILE [--behaviors CSV])
       [--judge keyword --judge keyword-short ...] [--judge-options '{"llm": {"base_url": ..., ...}}']
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    from unmask.errors import UnmaskError
    from unmask.judges import get_judge
    from unmask.metrics.human_labels import judge_agreement, read_val_set, read_xstest_completions

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--xstest", nargs="+", help="XSTest v2 completion CSVs (human refusal labels)")
    ap.add_argument("--harmbench", help="HarmBench text_behaviors_val_set.json (human harm labels)")
    ap.add_argument("--behaviors", help="HarmBench behaviors CSV (the behavior text for judges that read it)")
    ap.add_argument("--judge", action="append", help="judge name (repeatable; default keyword, keyword-short)")
    ap.add_argument("--judge-options", default="{}", help="JSON: judge name -> its options")
    args = ap.parse_args(argv)
    try:
        if bool(args.xstest) == bool(args.harmbench):
            raise UnmaskError("give either --xstest FILE... or --harmbench FILE")
        rows = read_xstest_completions(args.xstest) if args.xstest else read_val_set(args.harmbench, args.behaviors)
        options = json.loads(args.judge_options)
        judges = [get_judge(n, **options.get(n, {})) for n in (args.judge or ["keyword", "keyword-short"])]
        table = judge_agreement(rows, judges, positive="refused" if args.xstest else "complied")
    except UnmaskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    what = "refusals (full or partial)" if args.xstest else "harmful by human majority"
    n_pos = sum(r["human"] for r in rows)
    print(f"{len(rows)} replies, {n_pos} {what} ({100 * n_pos / len(rows):.1f}%)")
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
