"""Speed benchmark: dllint against the bare LibCST parse of the same files (the floor).

Downloads pinned releases from PyPI without installing them (``pip download --no-deps``, into
``.bench_cache/``, shared with ``precision.py``), copies each package into a scratch
directory, then times — interleaved (one round runs every measurement once, in turn) and
repeated, reporting median, min and max wall time of a fresh process each time:

* ``floor``      the bare ``libcst.parse_module`` of every ``.py`` file, in ``--jobs``
                 processes (fed largest first), interpreter start-up and ``import libcst``
                 included: what any LibCST-based linter pays at least;
* ``no cache``   ``dllint --no-cache -j N`` over the package (the whole default catalog);
* ``cold``       ``dllint -j N`` with an empty cache directory (so it also writes the cache);
* ``warm``       the same again, nothing changed;
* ``touched``    after appending a comment to one model file (only it is re-analysed; the
                 files that depend on it are re-resolved from their cached results);
* ``TorchFix`` / ``Fixit``   on the same tree, when their commands are found (``--torchfix``,
                 ``--fixit``, or on PATH); they are slow, so they run ``--tool-repeat`` times,
                 on the ``--tool-corpus`` corpora only (default: torchvision);

plus, once per benchmark, one small file end to end (the pre-commit case) against
``python -c "import libcst"``. Each row shows its ratio to the floor and to TorchFix and the
peak RSS of the largest single process of the run (``wait4``; a worker or the main process).

    python benchmarks/speed.py                                  # torchvision, timm, transformers
    python benchmarks/speed.py --corpus torchvision --repeat 7 -j 1
    python benchmarks/speed.py --torchfix ~/tools/bin/torchfix --fixit ~/tools/bin/fixit

TorchFix and Fixit pin other LibCST/click versions: install them in a venv of their own
(``python -m venv ~/tools && ~/tools/bin/pip install torchfix fixit``) and pass their paths.
It is a benchmark, not a test: it prints figures and never fails on them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from corpora import DEFAULT_CACHE, TIMM, TORCHVISION, TRANSFORMERS, PyPICorpus, fetch  # noqa: E402


CORPORA = {corpus.name: corpus for corpus in (TORCHVISION, TIMM, TRANSFORMERS)}

FLOOR = r"""
import os, sys
from concurrent.futures import ProcessPoolExecutor
import libcst

def parse(path):
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        libcst.parse_module(data)
    except Exception:
        pass

root, jobs = sys.argv[1], int(sys.argv[2])
files = sorted((os.path.join(d, f) for d, _, names in os.walk(root) for f in names if f.endswith(".py")),
               key=lambda p: -os.path.getsize(p))
if jobs == 1:
    for path in files:
        parse(path)
else:
    import multiprocessing
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        list(pool.map(parse, files, chunksize=1))
"""

TINY = '''import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 2)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        return self.fc(x.mean((2, 3)))
'''


@dataclass
class Measure:
    label: str
    times: list[float] = field(default_factory=list)
    rss_kib: int = 0
    status: Optional[int] = None

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def run(cmd: list[str], cwd: Path, measure: Measure) -> None:
    """One timed run in a fresh process; records wall time and peak RSS (via wait4)."""
    env = dict(os.environ, NO_COLOR="1")
    start = time.perf_counter()
    process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = process.stderr.read() if process.stderr else b""
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1):
        sys.stderr.write(f"warning: {' '.join(cmd)} exited {process.returncode}:\n{stderr.decode(errors='replace')[-2000:]}\n")
    measure.times.append(elapsed)
    measure.rss_kib = max(measure.rss_kib, usage.ru_maxrss)
    measure.status = process.returncode


def dllint_command() -> list[str]:
    script = Path(sys.executable).with_name("dllint")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dllint"]


def tool_command(given: Optional[str], name: str) -> Optional[list[str]]:
    if given:
        return given.split()
    found = shutil.which(name) or (str(Path(sys.executable).with_name(name)) if Path(sys.executable).with_name(name).exists() else None)
    return [found] if found else None


def snapshot_dllint(scratch: Path) -> Path:
    """A byte-compiled copy of the dllint package, put first on PYTHONPATH for every run: the
    code measured cannot change under the benchmark (an editable checkout being edited), and
    start-up is measured with .pyc files, as an installed package runs (a checkout may have
    none, e.g. with PYTHONDONTWRITEBYTECODE set)."""
    import compileall

    import dllint

    root = scratch / "dllint-snapshot"
    shutil.copytree(os.path.dirname(dllint.__file__), root / "dllint",
                    ignore=shutil.ignore_patterns("__pycache__"))
    compileall.compile_dir(str(root / "dllint"), quiet=1)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    return root


def bench_corpus(corpus: PyPICorpus, args: argparse.Namespace, scratch: Path) -> None:
    source = fetch(corpus, args.cache) / corpus.package
    work = scratch / corpus.name
    shutil.copytree(source, work / corpus.package)
    files = sorted((work / corpus.package).rglob("*.py"))
    size = sum(f.stat().st_size for f in files)
    jobs = args.jobs
    dllint = dllint_command() + ["--isolated", "--exit-zero", "-q", "-j", str(jobs)]
    target = corpus.package
    warm_dir = scratch / f"{corpus.name}-warm-cache"
    touched = work / corpus.package / corpus.touch

    measures = {
        "floor": Measure(f"bare LibCST parse (floor), {jobs} proc"),
        "nocache": Measure("dllint, no cache"),
        "cold": Measure("dllint cold (empty cache)"),
        "warm": Measure("dllint warm (nothing changed)"),
        "touched": Measure(f"dllint, {corpus.touch} touched"),
    }
    with_tools = not args.no_tools and corpus.name in (args.tool_corpus or ["torchvision"])
    torchfix = tool_command(args.torchfix, "torchfix") if with_tools else None
    fixit = tool_command(args.fixit, "fixit") if with_tools else None
    if torchfix:
        measures["torchfix"] = Measure("TorchFix")
    if fixit:
        measures["fixit"] = Measure("Fixit")

    print(f"\n{corpus.name} {corpus.version}: {len(files)} files, {size / 1e6:.1f} MB of Python, -j {jobs}", flush=True)
    subprocess.run(dllint + ["--cache-dir", str(warm_dir), target], cwd=work, stdout=subprocess.DEVNULL)  # untimed: fills the warm cache
    for round_ in range(args.repeat):
        run([sys.executable, "-c", FLOOR, str(work / target), str(jobs)], work, measures["floor"])
        run(dllint + ["--no-cache", target], work, measures["nocache"])
        cold_dir = scratch / f"{corpus.name}-cold-cache"
        shutil.rmtree(cold_dir, ignore_errors=True)
        run(dllint + ["--cache-dir", str(cold_dir), target], work, measures["cold"])
        run(dllint + ["--cache-dir", str(warm_dir), target], work, measures["warm"])
        with open(touched, "a", encoding="utf-8") as handle:
            handle.write(f"\n# touched by benchmarks/speed.py, round {round_}\n")
        run(dllint + ["--cache-dir", str(warm_dir), target], work, measures["touched"])
        if round_ < args.tool_repeat:
            if torchfix:
                run(torchfix + ["-j", str(jobs), target], work, measures["torchfix"])
            if fixit:
                run(fixit + ["lint", target], work, measures["fixit"])
    report(list(measures.values()), measures["floor"], measures.get("torchfix"))


def report(measures: list[Measure], floor: Measure, torchfix: Optional[Measure]) -> None:
    print(f"  {'':40} {'median':>8} {'min':>8} {'max':>8} {'x floor':>8} {'x TorchFix':>10} {'peak RSS':>9}")
    for m in measures:
        if not m.times:
            continue
        vs_floor = m.median / floor.median if floor.times else float("nan")
        vs_torchfix = f"{m.median / torchfix.median:10.3f}" if torchfix and torchfix.times else f"{'-':>10}"
        print(
            f"  {m.label:40} {m.median:7.2f}s {min(m.times):7.2f}s {max(m.times):7.2f}s {vs_floor:8.2f} {vs_torchfix} "
            f"{m.rss_kib / 1024:7.0f}MB  (n={len(m.times)})",
            flush=True,
        )


def bench_one_file(args: argparse.Namespace, scratch: Path) -> None:
    directory = scratch / "one-file"
    directory.mkdir()
    (directory / "tiny.py").write_text(TINY, encoding="utf-8")
    base = dllint_command() + ["--isolated", "--exit-zero", "-q"]
    libcst = Measure('python -c "import libcst"')
    nocache = Measure("dllint tiny.py --no-cache")
    cold = Measure("dllint tiny.py (empty cache)")
    warm = Measure("dllint tiny.py (cached)")
    tools = []
    for name, command in (("TorchFix", tool_command(args.torchfix, "torchfix")), ("Fixit", tool_command(args.fixit, "fixit"))):
        if command and not args.no_tools:
            tools.append((Measure(f"{name} tiny.py"), command + (["lint"] if name == "Fixit" else []) + ["tiny.py"]))
    run(base + ["tiny.py"], directory, Measure("untimed"))
    for round_ in range(args.repeat * 4):
        run([sys.executable, "-c", "import libcst"], directory, libcst)
        run(base + ["--no-cache", "tiny.py"], directory, nocache)
        shutil.rmtree(directory / ".dllint_cache", ignore_errors=True)
        run(base + ["tiny.py"], directory, cold)
        run(base + ["tiny.py"], directory, warm)
        if round_ < args.repeat:
            for measure, command in tools:
                run(command, directory, measure)
    print("\none small file, end to end (the pre-commit case):", flush=True)
    print(f"  {'':40} {'median':>8} {'min':>8} {'max':>8} {'x import libcst':>16}")
    for m in (libcst, nocache, cold, warm, *(measure for measure, _ in tools)):
        print(f"  {m.label:40} {m.median * 1000:6.0f}ms {min(m.times) * 1000:6.0f}ms {max(m.times) * 1000:6.0f}ms "
              f"{m.median / libcst.median:16.2f}  (n={len(m.times)})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", action="append", choices=sorted(CORPORA), help="default: all three")
    parser.add_argument("--repeat", type=int, default=5, help="rounds of interleaved measurements (default 5)")
    parser.add_argument("-j", "--jobs", type=int, default=None, help="processes for dllint and the floor (default: every core)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where downloads are kept (default .bench_cache/)")
    parser.add_argument("--torchfix", help="TorchFix command (default: `torchfix` on PATH or next to this python)")
    parser.add_argument("--fixit", help="Fixit command (default: `fixit` on PATH or next to this python)")
    parser.add_argument("--tool-repeat", type=int, default=1, help="rounds that also run TorchFix/Fixit (default 1)")
    parser.add_argument("--no-tools", action="store_true", help="do not run TorchFix or Fixit")
    parser.add_argument("--tool-corpus", action="append", choices=sorted(CORPORA),
                        help="corpora to run TorchFix/Fixit on (default: torchvision; they take minutes per corpus)")
    parser.add_argument("--no-one-file", action="store_true", help="skip the one-small-file measurement")
    args = parser.parse_args()
    if args.jobs is None:
        try:
            args.jobs = len(os.sched_getaffinity(0))
        except AttributeError:
            args.jobs = os.cpu_count() or 1
    import libcst  # noqa: F401 - fail early when it is missing

    print(f"python {sys.version.split()[0]}, libcst {_version('libcst')}, dllint {_version('dllint')}, "
          f"{os.cpu_count()} cores, -j {args.jobs}, {args.repeat} rounds")
    with tempfile.TemporaryDirectory(prefix="dllint-speed-") as tmp:
        scratch = Path(tmp)
        snapshot_dllint(scratch)
        if not args.no_one_file:
            bench_one_file(args, scratch)
        for name in args.corpus or ["torchvision", "timm", "transformers"]:
            bench_corpus(CORPORA[name], args, scratch)


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    main()
