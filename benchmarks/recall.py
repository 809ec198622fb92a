"""Recall of the default rule set on real pitfalls found by reading the corpora's code.

``benchmarks/recall.csv`` lists pitfalls found by reading the pinned corpora of
``benchmarks/corpora.py`` (searching each rule's pitfall in the code, not copying dllint's
output), one row per defect: ``corpus,file,line,code,why``. ``line`` says where the defect is:

* one line (``42``), or a range (``40-45``: e.g. a ``backward()`` and the ``step()`` that follows);
* or several places separated by ``;`` when the defect is made of pieces in different places
  (``191;209;235``: the ``nn.Sigmoid`` a model ends in, the ``BCELoss`` built for it and the loss
  calls that combine them); every place listed is a line a maintainer would edit or that the rule
  describes as the defect, never a neighbouring line added to catch a report;
* in a notebook, ``cell N:ROW`` or ``cell N:A-B`` (rows within the cell, as dllint prints them).

A row is FOUND when dllint, run with its default rules over the whole corpus, reports the row's
code in the row's file on one of the row's lines; otherwise it is MISSED (a report in another
file, e.g. the model's file when the row names the training script, does not count). Rows whose
code is not a default rule of the installed dllint (``DL306``, ``DL506``, ``DL507`` in
RULES.md before they ship) are listed as future rules and left out of the recall figures.

    python benchmarks/recall.py -j 2                     # every corpus with recall rows
    python benchmarks/recall.py --corpus pytorch-gan     # one corpus
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpora import LIBRARIES, add_corpus_arguments, lint, selected_corpora
from precision import read_table

RECALL = Path(__file__).resolve().parent / "recall.csv"
_PLACE = re.compile(r"^(cell \d+:)?(\d+)(?:-(\d+))?$")


def places(spec: str) -> set[str]:
    """``"12;cell 3:4-6"`` -> {"12", "cell 3:4", "cell 3:5", "cell 3:6"}: lines as the findings name them."""
    lines: set[str] = set()
    for part in spec.split(";"):
        match = _PLACE.match(part.strip())
        if match is None:
            raise SystemExit(f"{RECALL.name}: bad line {part!r} in {spec!r}")
        prefix, first, last = match[1] or "", int(match[2]), int(match[3] or match[2])
        lines.update(f"{prefix}{row}" for row in range(first, last + 1))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_corpus_arguments(parser)
    parser.add_argument("--recall", type=Path, default=RECALL)
    args = parser.parse_args()

    from dllint.rules import rule_catalog

    default_rules = {code for code, info in rule_catalog().items() if info.default_enabled}
    rows = read_table(args.recall, ("corpus", "file", "line", "code", "why"))
    wanted = {c.name for c in selected_corpora(args.corpus)}
    rows = [row for row in rows if row["corpus"] in wanted]
    corpora = [c for c in selected_corpora(args.corpus) if any(row["corpus"] == c.name for row in rows)]

    tally: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    missed: list[dict[str, str]] = []
    future: list[dict[str, str]] = []
    for corpus in corpora:
        run = lint(corpus, cache=args.cache_dir, mirrors=args.mirror_dir, jobs=args.jobs)
        reported = {(run.relative(f.filename), run.line(f), f.code) for f in run.findings}
        group = "libraries" if corpus in LIBRARIES else "projects"
        for row in rows:
            if row["corpus"] != corpus.name:
                continue
            if not (run.root / row["file"]).is_file():
                raise SystemExit(f"{args.recall.name}: {corpus.name} has no file {row['file']!r}")
            if row["code"] not in default_rules:
                future.append(row)
                continue
            found = any((row["file"], line, row["code"]) in reported for line in places(row["line"]))
            outcome = "found" if found else "missed"
            for scope in ("all", group):
                tally[scope][row["code"]][outcome] += 1
            if not found:
                missed.append(row)
        print(f"{corpus.name:<20} linted in {run.seconds:.1f}s ({corpus.pin})", flush=True)

    for scope, per_rule in tally.items():
        print(f"\nrecall ({scope}){'':<10}{'rows':>6}{'found':>7}{'missed':>8}{'recall':>8}")
        total: Counter = Counter()
        for code, counts in sorted(per_rule.items()):
            total.update(counts)
            print(f"{code:<24}{sum(counts.values()):>6}{counts['found']:>7}{counts['missed']:>8}"
                  f"{counts['found'] / sum(counts.values()):>8.3f}")
        print(f"{'all':<24}{sum(total.values()):>6}{total['found']:>7}{total['missed']:>8}"
              f"{total['found'] / sum(total.values()):>8.3f}")
    if missed:
        print(f"\n{len(missed)} pitfall(s) MISSED:")
        for row in missed:
            print(f"  {row['corpus']}: {row['file']}:{row['line']} {row['code']}  {row['why'][:110]}")
    if future:
        print(f"\n{len(future)} row(s) for rules that are not default rules of this dllint (not in the figures):")
        for code, count in sorted(Counter(row["code"] for row in future).items()):
            print(f"  {code}: {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
