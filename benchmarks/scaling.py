"""Scaling benchmark: dllint's cost on one file against the bare LibCST parse, as the file grows.

Two families of generated inputs:

* **model files** of 0.1, 0.5, 1, 2 and 5 MB: model classes (convolution blocks with
  BatchNorm, MLPs built as ``nn.Sequential``, forwards that chain their layers), training
  loops and helpers, each block with its own names, repeated until the size is reached;
* **chains** of 100 to 1000 statements, the shapes that used to cost the square (or worse) of
  their length: ``x{i+1} = nn.Sequential(x{i}, nn.Sigmoid())``; a ``forward`` that applies
  n layers one after the other; an ``if``/``elif`` ladder of n branches in a model's ``__init__``,
  each building its layer.

For each input, in fresh processes (so each peak is its own), it measures the bare
``libcst.parse_module`` of the text (the floor: dllint parses every file with LibCST) and
``dllint`` linting the file (``engine.lint_paths``, one process, no cache: the whole phase 1
and 2 — CPython's pre-screen, the parse, the semantics, every default rule), both after their
imports. It prints the time and the memory the input added to the process (peak RSS after
minus before), the ratios to the parse, and the exponent k of time ∝ size^k fitted over each
family (1 is linear). The target: dllint ≤ 2× the bare parse at every size.

    python benchmarks/scaling.py                       # everything, best of 1
    python benchmarks/scaling.py --sizes 0.1,0.5,1 --chains 100,300,1000 --repeat 3
    python benchmarks/scaling.py --only chains

A third measurement times ``--fix`` on a tree of many small files (``--fix-files``, 7 KB each,
each with a fixable finding), with a warm cache: how long until the first file is written,
and until the run ends. ``--src`` runs another checkout's sources (to compare with a commit).

    python benchmarks/scaling.py --only fix --fix-files 1000 -j 2

It is a benchmark, not a test: it prints figures and never fails on them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")

BLOCK = '''
class ConvBlock{i}(nn.Module):
    def __init__(self, cin={c}, cout={d}, p=0.{p}):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=3, padding=1{bias})
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.ReLU(inplace=True)
        self.drop = nn.Dropout(p)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        x = self.act(self.bn(self.conv(x)))
        return self.pool(self.drop(x))


class Head{i}(nn.Module):
    def __init__(self, width={w}, classes={k}):
        super().__init__()
        self.features = nn.Sequential(ConvBlock{i}(3, {c}), ConvBlock{i}({c}, {d}))
        self.mlp = nn.Sequential(
            nn.Linear(width, width // 2),
            nn.ReLU(),
            nn.Dropout(0.{p}),
            nn.Linear(width // 2, classes),
        )

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.mlp(x)


def train_{i}(model, loader, epochs={e}):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()
    model.train()
    for epoch in range(epochs):
        for inputs, targets in loader:
            optimizer.zero_grad()
            loss = criterion(model(inputs), targets)
            loss.backward()
            optimizer.step()
    return model


def predict_{i}(model, x):
    model.eval()
    with torch.no_grad():
        return F.softmax(model(x), dim=1)
'''

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"


def model_file(size: int) -> str:
    parts = [HEADER]
    total = len(HEADER)
    i = 0
    while total < size:
        bias = ", bias=False" if i % 2 else ""  # every other block: a DL301 (a bias before BatchNorm)
        block = BLOCK.format(i=i, bias=bias, c=8 + i % 8 * 8, d=16 + i % 4 * 16, p=1 + i % 5, w=64 + i % 3 * 64, k=10 + i % 7, e=1 + i % 9)
        parts.append(block)
        total += len(block)
        i += 1
    return "".join(parts)


def sequential_chain(n: int) -> str:
    lines = [HEADER, "x0 = nn.Linear(1, 1)\n"]
    lines += [f"x{i + 1} = nn.Sequential(x{i}, nn.Sigmoid())\n" for i in range(n)]
    return "".join(lines)


def forward_chain(n: int) -> str:
    init = "".join(f"        self.l{i} = nn.Linear(8, 8)\n" for i in range(n))
    body = "".join(f"        x = torch.relu(self.l{i}(x))\n" for i in range(n))
    return HEADER + textwrap.dedent(
        """
        class Deep(nn.Module):
            def __init__(self):
                super().__init__()
        """
    ) + init + "\n    def forward(self, x):\n" + body + "        return x\n"


def elif_ladder(n: int) -> str:
    branches = "".join(
        f"        elif kind == {i}:\n            self.conv = nn.Conv2d(8, 8, 3, padding={i})\n" for i in range(1, n)
    )
    return HEADER + textwrap.dedent(
        """
        class Net(nn.Module):
            def __init__(self, kind):
                super().__init__()
                if kind == 0:
                    self.conv = nn.Conv2d(8, 8, 2, padding="same")
        """
    ) + branches + "\n    def forward(self, x):\n        return self.conv(x)\n"


CHAINS = {"sequential": sequential_chain, "forward": forward_chain, "elif": elif_ladder}

PARSE = """
import json, resource, sys, time
import libcst
text = open(sys.argv[1], encoding="utf-8").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
libcst.parse_module(text)
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "kib": after - before}))
"""

LINT = """
import json, resource, sys, time
import libcst
from dllint import engine, semantics
from dllint.config import Settings
from dllint.rules import all_rules
all_rules()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
result = engine.lint_paths([sys.argv[1]], Settings(use_cache=False), jobs=1)
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
codes = [f.code for f in result.findings]
print(json.dumps({"seconds": seconds, "kib": after - before, "findings": len(codes),
                  "dl001": [f.message for f in result.findings if f.code == "DL001"][:1],
                  "errors": len(result.internal_errors)}))
"""


def environment(src: str) -> dict:
    return dict(os.environ, PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""), NO_COLOR="1")


def measure(script: str, path: str, repeat: int, src: str = SRC) -> dict:
    env = environment(src)
    best: dict = {}
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", script, path], capture_output=True, text=True, env=env, check=False)
        if out.returncode != 0:
            raise SystemExit(f"{path}: the measurement failed:\n{out.stderr[-2000:]}")
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        if not best or figures["seconds"] < best["seconds"]:
            best = figures
    return best


def fix_tree(root: str, count: int) -> None:
    for i in range(count):
        text = model_file(7000)
        with open(os.path.join(root, f"model_{i:04d}.py"), "w", encoding="utf-8") as handle:
            handle.write(text)


def time_fix(count: int, jobs: int, src: str) -> None:
    """--fix over ``count`` files with a warm cache: seconds to the first write and to the end."""
    import time

    with tempfile.TemporaryDirectory() as root:
        fix_tree(root, count)
        env = environment(src)
        command = [sys.executable, "-m", "dllint", "-j", str(jobs), "-q", "."]
        subprocess.run(command, cwd=root, env=env, capture_output=True, check=False)  # warms the cache
        before = {name: os.stat(os.path.join(root, name)).st_mtime_ns for name in os.listdir(root) if name.endswith(".py")}
        start = time.time_ns()
        subprocess.run([*command, "--fix"], cwd=root, env=env, capture_output=True, check=False)
        end = time.time_ns()
        written = [
            os.stat(os.path.join(root, name)).st_mtime_ns for name in before
            if os.stat(os.path.join(root, name)).st_mtime_ns != before[name]
        ]
        first = (min(written) - start) / 1e9 if written else float("nan")
        print(f"--fix, {count} files of 7 KB, warm cache, -j {jobs}: first file written after {first:.1f} s, "
              f"{len(written)} written, the run took {(end - start) / 1e9:.1f} s")


def exponent(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of log(time) against log(size)."""
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(max(y, 1e-6)) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="0.1,0.5,1,2,5", help="model file sizes in MB (comma-separated)")
    parser.add_argument("--chains", default="100,250,500,1000", help="chain lengths (comma-separated)")
    parser.add_argument("--only", choices=("files", "chains", "fix"), help="run one family only")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement; the fastest is kept")
    parser.add_argument("--fix-files", type=int, default=200, help="files in the --fix tree")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="worker processes for the --fix run")
    parser.add_argument("--src", default=SRC, help="the dllint sources to run (default: this checkout's)")
    args = parser.parse_args()
    if args.only == "fix":
        time_fix(args.fix_files, args.jobs, args.src)
        return

    inputs: list[tuple[str, str, float, str]] = []  # (family, label, size for the fit, text)
    if args.only != "chains":
        for mb in (float(s) for s in args.sizes.split(",")):
            inputs.append(("model file", f"{mb:g} MB", mb, model_file(int(mb * 1_000_000))))
    if args.only != "files":
        for kind, make in CHAINS.items():
            for n in (int(s) for s in args.chains.split(",")):
                inputs.append((f"{kind} chain", f"n={n}", n, make(n)))

    header = (f"{'input':<18} {'size':>8} {'lines':>7} {'parse s':>8} {'dllint s':>9} {'×':>5} "
              f"{'parse MiB':>10} {'dllint MiB':>11} {'×':>5}  findings")
    print(header)
    print("-" * len(header))
    fits: dict[str, list[tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for family, label, size, text in inputs:
            path = os.path.join(tmp, "generated.py")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
            parse = measure(PARSE, path, args.repeat, args.src)
            lint = measure(LINT, path, args.repeat, args.src)
            ratio = lint["seconds"] / parse["seconds"] if parse["seconds"] else float("nan")
            memory = lint["kib"] / parse["kib"] if parse["kib"] > 0 else float("nan")
            note = f"{lint['findings']}"
            if lint["dl001"]:
                note += f"  DL001: {lint['dl001'][0][:60]}"
            if lint["errors"]:
                note += f"  ({lint['errors']} internal errors)"
            print(f"{family + ' ' + label:<18} {len(text) / 1e6:>6.2f}MB {text.count(chr(10)):>7} "
                  f"{parse['seconds']:>8.2f} {lint['seconds']:>9.2f} {ratio:>5.2f} "
                  f"{parse['kib'] / 1024:>10.0f} {lint['kib'] / 1024:>11.0f} {memory:>5.2f}  {note}", flush=True)
            fits.setdefault(family, []).append((size, parse["seconds"], lint["seconds"]))
    print()
    for family, points in fits.items():
        if len(points) > 1:
            parse_k = exponent([(s, p) for s, p, _ in points])
            lint_k = exponent([(s, t) for s, _, t in points])
            print(f"{family}: time ∝ size^k, k = {lint_k:.2f} for dllint, {parse_k:.2f} for the bare parse")
    if args.only is None:
        print()
        time_fix(args.fix_files, args.jobs, args.src)


if __name__ == "__main__":
    main()
