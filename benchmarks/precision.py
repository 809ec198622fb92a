"""Precision of the default rule set on real, well-maintained PyTorch code.

Downloads pinned releases from PyPI without installing them (``pip download --no-deps``),
unpacks their Python files into a cache, lints them with every default-on rule and prints the
findings per rule and per 10k lines. Every finding is then compared with the triage table
(``benchmarks/triage.csv``: one row per finding with a verdict and a reason): findings the
table does not know, and rows of the table that no longer occur, are listed and make the
script exit 1.

    python benchmarks/precision.py                      # all corpora
    python benchmarks/precision.py --corpus timm -j 2   # one corpus
    python benchmarks/precision.py --write-untriaged new.csv   # rows to triage, verdict empty
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpora import D2L, DEFAULT_CACHE, FORECASTING, TABNET, TIMM, TORCHVISION, TRANSFORMERS, ULTRALYTICS, fetch  # noqa: E402

TRIAGE = Path(__file__).resolve().parent / "triage.csv"


CORPORA = (TORCHVISION, TIMM, TRANSFORMERS, D2L, ULTRALYTICS, TABNET, FORECASTING)


def lint(package: Path, jobs: int):
    from dllint.config import Settings
    from dllint.engine import lint_paths

    files = sorted(str(p) for p in package.rglob("*.py"))
    lines = sum(p.read_bytes().count(b"\n") for p in map(Path, files))
    started = time.perf_counter()
    result = lint_paths(files, Settings(), jobs=jobs)
    return files, lines, result, time.perf_counter() - started


def load_triage(path: Path) -> dict[tuple[str, str, int, str], dict[str, str]]:
    if not path.exists():
        return {}
    with path.open(newline="") as handle:
        return {
            (row["corpus"], row["file"], int(row["line"]), row["code"]): row
            for row in csv.DictReader(handle)
            if row.get("corpus")
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", action="append", choices=[c.name for c in CORPORA], help="only these corpora")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("-j", "--jobs", type=int, default=None)
    parser.add_argument("--triage", type=Path, default=TRIAGE)
    parser.add_argument("--write-untriaged", type=Path, help="write findings missing from the triage table here")
    args = parser.parse_args()

    triage = load_triage(args.triage)
    selected = [c for c in CORPORA if not args.corpus or c.name in args.corpus]
    seen: set[tuple[str, str, int, str]] = set()
    untriaged: list[dict[str, str]] = []
    per_rule_total: Counter[str] = Counter()
    verdicts: Counter[str] = Counter()
    print(f"{'corpus':<22}{'files':>7}{'lines':>10}{'findings':>10}{'/10k lines':>12}{'seconds':>9}  per rule")
    for corpus in selected:
        package = fetch(corpus, args.cache_dir)
        files, lines, result, seconds = lint(package, args.jobs)
        for error in result.internal_errors:
            print(f"INTERNAL ERROR in {corpus.name}: {error.splitlines()[0]}", file=sys.stderr)
        per_rule = Counter(f.code for f in result.findings)
        per_rule_total.update(per_rule)
        rate = len(result.findings) / lines * 10_000 if lines else 0.0
        rules = ", ".join(f"{code} {count}" for code, count in sorted(per_rule.items())) or "-"
        print(f"{corpus.name:<22}{len(files):>7}{lines:>10}{len(result.findings):>10}{rate:>12.2f}{seconds:>9.1f}  {rules}")
        for finding in result.findings:
            relative = Path(finding.filename).resolve().relative_to(package.parent.resolve()).as_posix()
            key = (corpus.name, relative, finding.location.row, finding.code)
            seen.add(key)
            row = triage.get(key)
            if row is None:
                untriaged.append({"corpus": corpus.name, "file": relative, "line": str(finding.location.row),
                                  "code": finding.code, "verdict": "", "reason": finding.message})
            else:
                verdicts[row["verdict"]] += 1

    stale = [key for key in triage if key[0] in {c.name for c in selected} and key not in seen]
    print()
    print("findings per rule:", ", ".join(f"{code} {count}" for code, count in sorted(per_rule_total.items())) or "none")
    print("triage verdicts:  ", ", ".join(f"{verdict} {count}" for verdict, count in sorted(verdicts.items())) or "none")
    if untriaged:
        print(f"\n{len(untriaged)} finding(s) not in {args.triage.name}:")
        for row in untriaged:
            print(f"  {row['corpus']}: {row['file']}:{row['line']} {row['code']} {row['reason'][:100]}")
    if stale:
        print(f"\n{len(stale)} triage row(s) no longer found (fixed rule or moved code):")
        for key in stale:
            print(f"  {key[0]}: {key[1]}:{key[2]} {key[3]}")
    if args.write_untriaged and untriaged:
        with args.write_untriaged.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["corpus", "file", "line", "code", "verdict", "reason"])
            writer.writeheader()
            writer.writerows(untriaged)
    false_positives = sum(1 for key in seen if triage.get(key, {}).get("verdict") == "false")
    if false_positives:
        print(f"\n{false_positives} finding(s) triaged as FALSE positives remain")
    return 1 if untriaged or stale or false_positives else 0


if __name__ == "__main__":
    sys.exit(main())
