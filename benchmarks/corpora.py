"""Pinned real PyTorch code for the benchmarks: releases from PyPI and repositories from GitHub.

Two kinds of corpus, each pinned so that every run lints the same bytes:

* :class:`PyPICorpus`, a release: ``pip download --no-deps`` the wheel (nothing is installed)
  and unzip its Python files;
* :class:`GitCorpus`, a repository at a full commit SHA: ``git clone --no-checkout`` (a
  blob-less partial clone), a sparse checkout of the ``.py``/``.ipynb``/``.gitignore`` files
  (not the data sets, images and checkpoints many tutorial repositories hold), then
  ``git checkout <sha>``. With ``mirrors`` (``--mirror-dir`` or ``DLLINT_BENCH_MIRRORS``: a
  folder of bare repositories named ``OWNER+NAME`` or ``OWNER+NAME/repo``) the clone comes from
  the local mirror instead of the network.

Everything lands in a cache directory (by default ``.bench_cache/`` at the repository root,
git-ignored) and is reused. :func:`fetch` returns the corpus root (the unpacked wheel or the
checkout); :func:`source_files` lists what a user running ``dllint`` on the corpus's folder
would lint (``.py`` and ``.ipynb``, dllint's default excludes and ``.gitignore``), minus the
corpus's excluded sub-paths (vendored third-party code, non-PyTorch folders); :func:`lint`
runs the default rules over them. Shared by the precision, recall and speed benchmarks, with
the command-line options they have in common (:func:`add_corpus_arguments`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Union

DEFAULT_CACHE = Path(__file__).resolve().parent.parent / ".bench_cache"
MIRRORS_ENV = "DLLINT_BENCH_MIRRORS"


@dataclass(frozen=True)
class PyPICorpus:
    name: str
    version: str
    package: str  # the top-level directory in the wheel to lint
    touch: str | None = None  # a model file to change for the speed benchmark's "touched" run
    exclude: tuple[str, ...] = ()

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"

    @property
    def pin(self) -> str:
        return self.requirement

    @property
    def folder(self) -> str:
        return self.package


@dataclass(frozen=True)
class GitCorpus:
    name: str
    url: str  # https://github.com/OWNER/NAME
    commit: str  # the full 40-hex SHA
    folder: str = "."  # the sub-folder to lint, relative to the repository root
    exclude: tuple[str, ...] = ()  # sub-paths left out (relative to the root; a folder or a file)
    # files besides the code that dllint reads (checked out too): DeepSpeed's JSON configs
    configs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.commit) != 40:
            raise ValueError(f"{self.name}: pin a full commit SHA, not {self.commit!r}")

    @property
    def pin(self) -> str:
        return f"{self.url}@{self.commit[:12]}"

    @property
    def mirror_name(self) -> str:
        owner, name = self.url.rstrip("/").removesuffix(".git").split("/")[-2:]
        return f"{owner}+{name}"


AnyCorpus = Union[PyPICorpus, GitCorpus]


# --- libraries (PyPI releases) ------------------------------------------------------------------
TORCHVISION = PyPICorpus("torchvision", "0.29.1", "torchvision", "models/resnet.py")
TIMM = PyPICorpus("timm", "1.0.31", "timm", "models/resnet.py")
TRANSFORMERS = PyPICorpus("transformers", "5.24.0", "transformers", "models/bert/modeling_bert.py")
# Code with training and inference loops, not only model definitions:
D2L = PyPICorpus("d2l", "1.0.3", "d2l")
ULTRALYTICS = PyPICorpus("ultralytics", "8.4.190", "ultralytics")
TABNET = PyPICorpus("pytorch-tabnet", "4.1.0", "pytorch_tabnet")
FORECASTING = PyPICorpus("pytorch-forecasting", "1.8.0", "pytorch_forecasting")
LIBRARIES = (TORCHVISION, TIMM, TRANSFORMERS, D2L, ULTRALYTICS, TABNET, FORECASTING)

# --- tutorial, course and research code (GitHub repositories) -----------------------------------
PROJECTS = (
    GitCorpus("pytorch-examples", "https://github.com/pytorch/examples",
              "77f55b912142e11fcfdf5b530231fb9c52f181e8"),
    GitCorpus("yunjey-tutorial", "https://github.com/yunjey/pytorch-tutorial",
              "0500d3df5a2a8080ccfccbc00aca0eacc21818db"),
    GitCorpus("pytorch-gan", "https://github.com/eriklindernoren/PyTorch-GAN",
              "36d3c77e5ff20ebe0aeefd322326a134a279b93e"),
    GitCorpus("seq2seq", "https://github.com/bentrevett/pytorch-seq2seq",
              "b3cd54c72cd6e4e63f672d334c795b4fe744ef92"),
    GitCorpus("sentiment", "https://github.com/bentrevett/pytorch-sentiment-analysis",
              "329f654b2cfaed22fee432569ebd7a2674584f79"),
    GitCorpus("mingpt", "https://github.com/karpathy/minGPT",
              "37baab71b9abea1b76ab957409a1cc2fbfba8a26"),
    GitCorpus("nanogpt", "https://github.com/karpathy/nanoGPT",
              "3adf61e154c3fe3fca428ad6bc3818b27a3b8291"),
    # The notebooks folder repeats tutorial-contents/ cell by cell (with outputs): lint the scripts.
    GitCorpus("morvan-tutorial", "https://github.com/MorvanZhou/PyTorch-Tutorial",
              "dbe154a9e56635e51c6b0c2ccea8ae36cfb585a7", folder="tutorial-contents"),
    GitCorpus("kuangliu-cifar", "https://github.com/kuangliu/pytorch-cifar",
              "49b7aa97b0c12fe0d4054e670403a16b6b834ddd"),
    GitCorpus("pytorch-vae", "https://github.com/AntixK/PyTorch-VAE",  # PyTorch Lightning
              "a6896b944c918dd7030e7d795a8c13e5c6345ec7"),
    GitCorpus("image-captioning", "https://github.com/sgrvinod/a-PyTorch-Tutorial-to-Image-Captioning",
              "cc9c7e2f4017938d414178d3781fed8dbe442852"),
    GitCorpus("practical-pytorch", "https://github.com/spro/practical-pytorch",
              "c520c52e68e945d88fff563dba1c028b6ec0197b"),
    # keras/ and tensorflow/ are not PyTorch; CycleGAN_Solution.ipynb is a large object that
    # partial mirrors leave out (its exercise twin, CycleGAN_Exercise.ipynb, is linted).
    GitCorpus("udacity-dl", "https://github.com/udacity/deep-learning-v2-pytorch",
              "c9404fc86181fc3f0906b368697268257f348535",
              exclude=("keras", "tensorflow", "cycle-gan/CycleGAN_Solution.ipynb")),
    # Training loops run by frameworks: Lightning (Trainer, Fabric), Accelerate, the Hugging Face
    # Trainer, DeepSpeed (with its JSON configs, which dllint reads for `gradient_clipping`).
    GitCorpus("lightning-examples", "https://github.com/Lightning-AI/pytorch-lightning",
              "7f0c3436cd3f6ad3753125672024fc415cbcb414", folder="examples"),
    GitCorpus("accelerate-examples", "https://github.com/huggingface/accelerate",
              "16cb6eb80dd9aa8b4df1a63ef57863e455d53b83", folder="examples"),
    GitCorpus("lightning-hydra", "https://github.com/ashleve/lightning-hydra-template",
              "bddbc24b82ab6ccfa6243e815a49dc5bfe8d4144"),
    GitCorpus("asteroid", "https://github.com/asteroid-team/asteroid",  # Lightning, recurrent separators
              "92c8d83a9dbe7c3afd1cd097e31254e0b4f82881"),
    GitCorpus("ddpm-lucidrains", "https://github.com/lucidrains/denoising-diffusion-pytorch",  # Accelerate
              "faed4db28e724735323fa91c70aa9b28a6e1cbac"),
    GitCorpus("stanford-alpaca", "https://github.com/tatsu-lab/stanford_alpaca",  # Hugging Face Trainer
              "761dc5bfbdeeffa89b8bff5d038781a4055f796a"),
    GitCorpus("deepspeed-examples", "https://github.com/microsoft/DeepSpeedExamples",
              "83757d9c937daabd1089a08051061706cb73900d", folder="training", configs=("*.json",)),
)

CORPORA: tuple[AnyCorpus, ...] = LIBRARIES + PROJECTS
GROUPS = {"libraries": LIBRARIES, "projects": PROJECTS}


def fetch(corpus: AnyCorpus, cache: Path = DEFAULT_CACHE, mirrors: Path | None = None) -> Path:
    """The corpus root (unpacked wheel or checkout), fetched into ``cache`` if not there yet."""
    if isinstance(corpus, GitCorpus):
        return _fetch_git(corpus, cache, mirrors if mirrors is not None else _mirrors_from_env())
    return _fetch_wheel(corpus, cache)


def source_files(corpus: AnyCorpus, root: Path) -> list[Path]:
    """The files ``dllint <folder>`` lints in the corpus, less its excluded sub-paths, sorted."""
    from dllint.config import DEFAULT_EXCLUDE
    from dllint.files import discover

    found = discover([str(root / corpus.folder)], exclude=DEFAULT_EXCLUDE, root=root)
    files = [Path(name).resolve() for name in found.files]
    excluded = [(root / sub).resolve() for sub in corpus.exclude]
    return sorted(f for f in files if not any(f == e or e in f.parents for e in excluded))


@dataclass
class LintRun:
    corpus: AnyCorpus
    root: Path
    files: list[Path]
    lines: int
    findings: list  # dllint.findings.Finding
    internal_errors: list[str]
    seconds: float

    def relative(self, filename: str) -> str:
        """A finding's file as the triage and recall tables name it: relative to the corpus root."""
        return Path(filename).resolve().relative_to(self.root.resolve()).as_posix()

    @staticmethod
    def line(finding) -> str:
        """A finding's line as the tables name it: ``42``, or ``cell 3:7`` in a notebook (as dllint prints it)."""
        row = finding.location.row
        return str(row) if finding.cell is None else f"cell {finding.cell}:{row}"


def lint(corpus: AnyCorpus, *, cache: Path = DEFAULT_CACHE, mirrors: Path | None = None,
         jobs: int | None = None) -> LintRun:
    """Fetch the corpus and lint it with dllint's default rules (no config file, no cache)."""
    from dllint.config import Settings
    from dllint.engine import lint_paths

    root = fetch(corpus, cache, mirrors)
    files = source_files(corpus, root)
    lines = sum(f.read_bytes().count(b"\n") for f in files)
    started = time.perf_counter()
    result = lint_paths([str(f) for f in files], Settings(use_cache=False), jobs=jobs)
    return LintRun(corpus, root, files, lines, list(result.findings), list(result.internal_errors),
                   time.perf_counter() - started)


def add_corpus_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options the benchmarks share: which corpora, where they are cached and mirrored."""
    names = [c.name for c in CORPORA] + list(GROUPS)
    parser.add_argument("--corpus", action="append", choices=names, metavar="NAME",
                        help=f"only this corpus or group (repeatable): {', '.join(names)}")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--mirror-dir", type=Path, default=None,
                        help="clone the GitHub corpora from mirrors here (OWNER+NAME, OWNER+NAME/repo: bare, or a clone) "
                             "instead of the network; default: $DLLINT_BENCH_MIRRORS")
    parser.add_argument("-j", "--jobs", type=int, default=None)


def selected_corpora(names: list[str] | None) -> list[AnyCorpus]:
    """The corpora named (or in the groups named), in catalogue order; all of them when none is."""
    if not names:
        return list(CORPORA)
    wanted = {c.name for name in names for c in GROUPS.get(name, [c for c in CORPORA if c.name == name])}
    return [c for c in CORPORA if c.name in wanted]


# --- fetching -----------------------------------------------------------------------------------

def _fetch_wheel(corpus: PyPICorpus, cache: Path) -> Path:
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
    return root


def _mirrors_from_env() -> Path | None:
    value = os.environ.get(MIRRORS_ENV)
    return Path(value) if value else None


def _mirror(corpus: GitCorpus, mirrors: Path | None) -> Path | None:
    if mirrors is None:
        return None
    for candidate in (mirrors / corpus.mirror_name / "repo", mirrors / corpus.mirror_name, mirrors / corpus.mirror_name / "repo" / ".git"):
        if (candidate / "HEAD").is_file():
            return candidate
    raise SystemExit(f"{corpus.name}: no repository {corpus.mirror_name} (or {corpus.mirror_name}/repo) in {mirrors}")


def _fetch_git(corpus: GitCorpus, cache: Path, mirrors: Path | None) -> Path:
    root = cache / "git" / f"{corpus.name}-{corpus.commit[:12]}"
    marker = cache / "git" / f"{root.name}.complete"
    if marker.exists():
        return root
    mirror = _mirror(corpus, mirrors)
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    clone = ["git", "clone", "--quiet", "--no-checkout"]
    clone += [str(mirror), str(partial)] if mirror else ["--filter=blob:none", corpus.url, str(partial)]
    print(f"fetching {corpus.name} from {mirror or corpus.url}", file=sys.stderr, flush=True)
    _git(clone)
    # Only what dllint reads: not the data sets, images and checkpoints tutorial repos carry.
    patterns = ["*.py", "*.ipynb", ".gitignore", *corpus.configs]
    patterns += [f"!/{sub.strip('/')}{tail}" for sub in corpus.exclude for tail in ("", "/**")]
    _git(["git", "-C", str(partial), "sparse-checkout", "set", "--no-cone", *patterns])
    _git(["git", "-C", str(partial), "-c", "advice.detachedHead=false", "checkout", "--quiet", corpus.commit])
    head = subprocess.run(["git", "-C", str(partial), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    if head != corpus.commit:
        raise SystemExit(f"{corpus.name}: checked out {head}, expected {corpus.commit}")
    shutil.rmtree(root, ignore_errors=True)
    partial.rename(root)
    marker.touch()
    return root


def _git(command: list[str]) -> None:
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{completed.stderr.strip()}")
