"""Precision on held-out code: public repositories checked once as a new user would, before
dllint was tuned on them.

``benchmarks/precision.py`` measures the corpora dllint is developed against. This measures
three later sets of tutorial, course and research repositories (``heldout_repos.csv``: the set,
``OWNER/NAME`` and the commit each was checked at). Every finding dllint reported at that time
was triaged as the project's maintainers would judge it (``heldout_triage.csv``: ``real`` or
``false-positive``, with a reason about that line; ``[fact]`` when dllint misread the code,
``[context]`` when the fact is right but a maintainer would still reject the change), and the
pitfalls it missed were listed (``heldout_misses.csv``). Once a set has been looked at, later
work is tuned on it too: the figures of the newest set are the closest to unseen code.

It prints, per set and per rule: findings, real, false positives, untriaged and precision
(misses now found count as real), then the rows that changed: false positives fixed, misses
found, and real findings lost (exit 1), and findings nobody triaged yet (exit 1). A false
positive that is still reported is expected here, and does not fail the run.

    python benchmarks/heldout.py --root /path/to/checkouts     # OWNER+NAME folders, at the commits
    DLLINT_BENCH_MIRRORS=/path/to/bare/mirrors python benchmarks/heldout.py
    python benchmarks/heldout.py --set heldout4 -j 2           # without --root: cloned into .bench_cache
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from corpora import DEFAULT_CACHE, GitCorpus, LintRun, fetch, source_files  # noqa: E402
from precision import Key, load_triage, print_keys, print_table, read_table  # noqa: E402

REPOS = HERE / "heldout_repos.csv"
TRIAGE = HERE / "heldout_triage.csv"
MISSES = HERE / "heldout_misses.csv"


def repositories() -> list[tuple[str, GitCorpus]]:
    """(set, corpus) for every held-out repository, named ``OWNER/NAME`` as the tables name it."""
    return [
        (row["set"], GitCorpus(row["corpus"], f"https://github.com/{row['corpus']}", row["commit"]))
        for row in read_table(REPOS, ("set", "corpus", "commit"))
    ]


def lint_repository(corpus: GitCorpus, root: Path, jobs: int | None) -> LintRun:
    from dllint.config import Settings
    from dllint.engine import lint_paths

    files = source_files(corpus, root)
    result = lint_paths([str(f) for f in files], Settings(use_cache=False), jobs=jobs)
    return LintRun(corpus, root, files, 0, list(result.findings), list(result.internal_errors), 0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, help="checkouts of the repositories at their commits, as OWNER+NAME folders")
    parser.add_argument("--set", action="append", dest="sets", metavar="NAME", help="only this set (repeatable)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--mirror-dir", type=Path, default=None,
                        help="clone from bare mirrors here (OWNER+NAME) instead of the network; default: $DLLINT_BENCH_MIRRORS")
    parser.add_argument("-j", "--jobs", type=int, default=None)
    args = parser.parse_args()

    triage = load_triage(TRIAGE)
    misses = {(row["corpus"], row["file"], row["line"], row["code"]): row
              for row in read_table(MISSES, ("corpus", "file", "line", "code", "why"))}
    chosen = [(name, corpus) for name, corpus in repositories() if not args.sets or name in args.sets]
    seen: set[Key] = set()
    untriaged: list[tuple[Key, str]] = []
    per_set: dict[str, Counter] = {}
    per_rule: dict[str, Counter] = defaultdict(Counter)
    for set_name, corpus in chosen:
        root = args.root / corpus.mirror_name if args.root else fetch(corpus, args.cache_dir, args.mirror_dir)
        run = lint_repository(corpus, root, args.jobs)
        for error in run.internal_errors:
            print(f"INTERNAL ERROR in {corpus.name}: {error.splitlines()[0]}", file=sys.stderr)
        tally = per_set.setdefault(set_name, Counter())
        for finding in run.findings:
            key = (corpus.name, run.relative(finding.filename), run.line(finding), finding.code)
            seen.add(key)
            row = triage.get(key)
            verdict = row["verdict"] if row else "real" if key in misses else "untriaged"
            tally[verdict] += 1
            per_rule[finding.code][verdict] += 1
            if verdict == "untriaged":
                untriaged.append((key, finding.message))
        print(f"{set_name}  {corpus.name:<50} {len(run.findings):>4} findings  {corpus.pin}", flush=True)

    print_table("per set", per_set)
    print_table("per rule", dict(sorted(per_rule.items())), rules=True)
    names = {corpus.name for _, corpus in chosen}
    fixed = [key for key, row in triage.items() if key[0] in names and key not in seen and row["verdict"] == "false-positive"]
    lost = [key for key, row in triage.items() if key[0] in names and key not in seen and row["verdict"] == "real"]
    found = [key for key in misses if key[0] in names and key in seen]
    print_keys("false positive(s) FIXED (no longer reported)", fixed)
    print_keys("miss(es) now FOUND", found)
    if lost:
        print_keys("true positive(s) LOST (triaged real, no longer reported):", lost,
                   {key: row["reason"] for key, row in triage.items()})
    if untriaged:
        print_keys(f"finding(s) not in {TRIAGE.name} (triage them):", [key for key, _ in untriaged], dict(untriaged))
    return 1 if lost or untriaged else 0


if __name__ == "__main__":
    sys.exit(main())
