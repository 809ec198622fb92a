"""Pinned releases of real PyTorch code, fetched from PyPI without installing them.

``pip download --no-deps`` the wheel, unzip its Python files into a cache directory (by
default ``.bench_cache/`` at the repository root, git-ignored), and hand back the package
directory. Shared by the precision and speed benchmarks.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

DEFAULT_CACHE = Path(__file__).resolve().parent.parent / ".bench_cache"


@dataclass(frozen=True)
class Corpus:
    name: str
    version: str
    package: str  # the top-level directory in the wheel to lint
    touch: Optional[str] = None  # a model file to change for the speed benchmark's "touched" run

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


TORCHVISION = Corpus("torchvision", "0.29.1", "torchvision", "models/resnet.py")
TIMM = Corpus("timm", "1.0.31", "timm", "models/resnet.py")
TRANSFORMERS = Corpus("transformers", "5.24.0", "transformers", "models/bert/modeling_bert.py")
# Code with training and inference loops, not only model definitions:
D2L = Corpus("d2l", "1.0.3", "d2l")
ULTRALYTICS = Corpus("ultralytics", "8.4.190", "ultralytics")
TABNET = Corpus("pytorch-tabnet", "4.1.0", "pytorch_tabnet")
FORECASTING = Corpus("pytorch-forecasting", "1.8.0", "pytorch_forecasting")


def fetch(corpus: Corpus, cache: Path = DEFAULT_CACHE) -> Path:
    """The unpacked package directory, downloading and unzipping the wheel if needed."""
    root = cache / "src" / f"{corpus.name}-{corpus.version}"
    marker = root / ".complete"
    if not marker.exists():
        wheels = cache / "wheels"
        wheels.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "--python-version", "3.11", "-d", str(wheels), corpus.requirement],
            check=True,
        )
        prefix = corpus.name.replace("-", "_").lower()
        wheel = next(w for w in wheels.glob("*.whl") if w.name.lower().startswith(f"{prefix}-{corpus.version}"))
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if member.endswith(".py"):
                    archive.extract(member, root)
        marker.touch()
    return root / corpus.package
