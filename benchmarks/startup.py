"""Startup benchmark: how long `dllint tiny_file.py` takes end to end, against `import libcst`.

pre-commit starts dllint once per batch of a few files, so process start-up is most of what a
user waits for. This prints the median wall time of N subprocess runs of:

* ``python -c "import libcst"``        – the floor: the parser dllint cannot do without;
* ``python -c "import dllint.cli"``    – what the CLI costs before it lints anything;
* ``python -m dllint tiny.py``         – a full lint of one small file (cold process, no cache);
* the same with the result cache, the file unchanged since the last run (a cache hit: no
  LibCST import at all);

and whether ``import dllint.cli`` pulled torch into ``sys.modules`` (it must not).

    python benchmarks/startup.py [-n 15]

It is a benchmark, not a test: it prints figures and never fails on them (the hard
guarantees — no torch on the CLI path — are asserted in tests/cli/test_startup.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

TINY = '''import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(x)
'''


def wall(cmd: list[str], runs: int, cwd: str) -> float:
    times = []
    env = dict(os.environ, NO_COLOR="1")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--runs", type=int, default=15)
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "tiny.py"), "w") as handle:
            handle.write(TINY)
        wall([py, "-m", "dllint", "--isolated", "--no-cache", "tiny.py"], 2, tmp)  # warm the OS file cache
        rows = [
            ("python -c 'import libcst'", wall([py, "-c", "import libcst"], args.runs, tmp)),
            ("python -c 'import dllint.cli'", wall([py, "-c", "import dllint.cli"], args.runs, tmp)),
            ("dllint tiny.py (python -m dllint)", wall([py, "-m", "dllint", "--isolated", "--no-cache", "tiny.py"], args.runs, tmp)),
            ("dllint tiny.py, cache hit", wall([py, "-m", "dllint", "--isolated", "tiny.py"], args.runs, tmp)),
        ]
        probe = subprocess.run(
            [py, "-c", "import sys, dllint.cli; print('torch' in sys.modules)"],
            cwd=tmp, capture_output=True, text=True, check=False,
        )
    print(f"median of {args.runs} runs, subprocess wall time ({sys.version.split()[0]}, {os.cpu_count()} cpus)")
    for label, seconds in rows:
        print(f"  {label:<38} {seconds * 1000:7.1f} ms")
    print(f"  torch imported by `import dllint.cli`: {probe.stdout.strip() or probe.stderr.strip()}")


if __name__ == "__main__":
    main()
