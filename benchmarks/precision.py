"""Precision of the default rule set on real PyTorch code: libraries and tutorial/research projects.

Lints the pinned corpora of ``benchmarks/corpora.py`` (PyPI releases of libraries, and GitHub
repositories of tutorial, course and research code pinned by commit) with every default-on rule,
and looks each finding up in the triage table ``benchmarks/triage.csv``: one row per finding
(``corpus,file,line,code,verdict,reason``; in a notebook the line is ``cell N:ROW``, as dllint
prints it; a row covers every finding of that code on that line), the verdict ``real`` (the project's maintainers would
accept the change) or ``false-positive``, the reason saying what the code does at that line.

It prints findings, real, false positives, untriaged and precision = real / (real + false
positives) per corpus, per rule (overall, on the libraries and on the projects), then lists:

* untriaged findings (not in the table)                         -> exit 1;
* findings triaged ``false-positive`` that are still reported     -> exit 1;
* triage rows no longer reported: a ``real`` row is a LOST true positive (exit 1), a
  ``false-positive`` row is a FIXED false positive (fine).

    python benchmarks/precision.py -j 2                          # every corpus
    python benchmarks/precision.py --corpus projects             # the GitHub projects only
    python benchmarks/precision.py --corpus pytorch-gan --corpus timm
    python benchmarks/precision.py --corpus udacity-dl --write-untriaged new.csv
    DLLINT_BENCH_MIRRORS=/path/to/bare/mirrors python benchmarks/precision.py --corpus projects
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpora import LIBRARIES, add_corpus_arguments, lint, selected_corpora

TRIAGE = Path(__file__).resolve().parent / "triage.csv"
VERDICTS = ("real", "false-positive")

Key = tuple[str, str, str, str]  # corpus, file relative to the corpus root, line, code


def read_table(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("corpus")]
    for number, row in enumerate(rows, start=2):
        missing = [column for column in required if not (row.get(column) or "").strip()]
        if missing:
            raise SystemExit(f"{path.name}:{number}: empty {', '.join(missing)}")
    return rows


def load_triage(path: Path) -> dict[Key, dict[str, str]]:
    if not path.exists():
        return {}
    triage: dict[Key, dict[str, str]] = {}
    for row in read_table(path, ("corpus", "file", "line", "code", "verdict", "reason")):
        if row["verdict"] not in VERDICTS:
            raise SystemExit(f"{path.name}: verdict {row['verdict']!r} is not one of {', '.join(VERDICTS)}: {row}")
        key = (row["corpus"], row["file"], row["line"], row["code"])
        if key in triage:
            raise SystemExit(f"{path.name}: duplicate row {key}")
        triage[key] = row
    return triage


def print_keys(title: str, keys: list[Key], note: dict[Key, str] | None = None) -> None:
    """A titled list of table keys (``corpus: file:line CODE``), each with its note when given."""
    print(f"\n{len(keys)} {title}")
    for key in keys:
        tail = f"  {note[key][:110]}" if note and key in note else ""
        print(f"  {key[0]}: {key[1]}:{key[2]} {key[3]}{tail}")


def precision(real: int, false: int) -> str:
    return f"{real / (real + false):.3f}" if real + false else "-"


def print_table(title: str, tallies: dict[str, Counter], *, rules: bool = False) -> None:
    """One row per key and an ``all`` row; per rule, also ``all but DL0xx`` (parse errors are not pitfalls)."""
    def row(name: str, tally: Counter) -> None:
        print(f"{name:<24}{sum(tally.values()):>9}{tally['real']:>7}{tally['false-positive']:>7}"
              f"{tally['untriaged']:>10}{precision(tally['real'], tally['false-positive']):>11}")

    print(f"\n{title:<24}{'findings':>9}{'real':>7}{'false':>7}{'untriaged':>10}{'precision':>11}")
    for name, tally in tallies.items():
        row(name, tally)
    row("all", sum(tallies.values(), Counter()))
    if rules:
        row("all but DL0xx", sum((t for code, t in tallies.items() if not code.startswith("DL0")), Counter()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_corpus_arguments(parser)
    parser.add_argument("--triage", type=Path, default=TRIAGE)
    parser.add_argument("--write-untriaged", type=Path, help="write the untriaged findings here (verdict empty)")
    args = parser.parse_args()

    triage = load_triage(args.triage)
    corpora = selected_corpora(args.corpus)
    seen: set[Key] = set()
    untriaged: list[dict[str, str]] = []
    untriaged_keys: set[Key] = set()
    still_false: list[Key] = []
    per_corpus: dict[str, Counter] = {}
    per_rule: dict[str, dict[str, Counter]] = {"all": defaultdict(Counter)}
    print(f"{'corpus':<20}{'files':>6}{'lines':>9}{'findings':>9}{'/10k lines':>11}{'seconds':>8}  pin")
    for corpus in corpora:
        run = lint(corpus, cache=args.cache_dir, mirrors=args.mirror_dir, jobs=args.jobs)
        group = "libraries" if corpus in LIBRARIES else "projects"
        for error in run.internal_errors:
            print(f"INTERNAL ERROR in {corpus.name}: {error.splitlines()[0]}", file=sys.stderr)
        rate = len(run.findings) / run.lines * 10_000 if run.lines else 0.0
        print(f"{corpus.name:<20}{len(run.files):>6}{run.lines:>9}{len(run.findings):>9}{rate:>11.2f}"
              f"{run.seconds:>8.1f}  {corpus.pin}", flush=True)
        tally = per_corpus[corpus.name] = Counter()
        for finding in run.findings:
            key = (corpus.name, run.relative(finding.filename), run.line(finding), finding.code)
            seen.add(key)
            row = triage.get(key)
            verdict = row["verdict"] if row else "untriaged"
            tally[verdict] += 1
            per_rule["all"][finding.code][verdict] += 1
            per_rule.setdefault(group, defaultdict(Counter))[finding.code][verdict] += 1
            if row is None:
                if key not in untriaged_keys:
                    untriaged_keys.add(key)
                    untriaged.append({"corpus": key[0], "file": key[1], "line": key[2], "code": key[3],
                                      "verdict": "", "reason": finding.message})
            elif verdict == "false-positive" and key not in still_false:
                still_false.append(key)

    print_table("per corpus", per_corpus)
    for scope, tallies in per_rule.items():
        print_table(f"per rule ({scope})", dict(sorted(tallies.items())), rules=True)

    names = {c.name for c in corpora}
    gone = [key for key in triage if key[0] in names and key not in seen]
    lost = [key for key in gone if triage[key]["verdict"] == "real"]
    fixed = [key for key in gone if triage[key]["verdict"] == "false-positive"]
    reasons = {key: row["reason"] for key, row in triage.items()}
    if still_false:
        print_keys("finding(s) triaged as false positives are still reported:", still_false, reasons)
    if untriaged:
        print_keys(f"finding(s) not in {args.triage.name} (triage them):",
                   [(row["corpus"], row["file"], row["line"], row["code"]) for row in untriaged],
                   {(row["corpus"], row["file"], row["line"], row["code"]): row["reason"] for row in untriaged})
    if fixed:
        print_keys("false positive(s) FIXED (triaged false-positive, no longer reported):", fixed)
    if lost:
        print_keys("true positive(s) LOST (triaged real, no longer reported; or the code moved):", lost, reasons)
    if args.write_untriaged and untriaged:
        with args.write_untriaged.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["corpus", "file", "line", "code", "verdict", "reason"])
            writer.writeheader()
            writer.writerows(untriaged)
    return 1 if untriaged or still_false or lost else 0


if __name__ == "__main__":
    sys.exit(main())
