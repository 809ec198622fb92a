"""The result cache: phase-1 results of unchanged files are read back instead of recomputed.

One entry per file and analysis mode, named by a key that hashes everything phase 1 depends
on: the file's bytes, its name and module name (findings carry the name, the project index
the module name), the rules enabled for it with their options, the analysis mode, and the
code that produced it (the dllint version, a fingerprint of dllint's own source files, the
Python minor version and the installed LibCST). An entry stores the pickled
:class:`~dllint.engine.FileResult`, i.e. the file's *candidates*, not its final findings:
reports that depend on other files (``unless`` predicates) and ``# noqa`` are resolved in
phase 2 on every run against the current project index, so a cached ``train.py`` follows a
changed ``models.py`` without being re-analysed.

Entries are written to a temporary file and renamed into place (``os.replace``), so
concurrent runs (two pre-commit hooks at once) never see a half-written entry; each entry
also carries its key and a digest of its payload, and anything that does not check out
(truncated, corrupted, written by another version) is a miss, never an error. A cache that
cannot be written (read-only directory, full disk) is silently skipped. Entries older than
30 days are deleted (at most one sweep a day), so stale ones do not pile up.

This module imports nothing heavy: a fully cached run never imports LibCST.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from dllint import __version__

DEFAULT_DIRNAME = ".dllint_cache"
_LAYOUT = "v1"
_MAGIC = b"DLLINT-CACHE-1\n"
_KEY_BYTES = 64  # hex digits of a blake2b-256 key
_DIGEST_BYTES = 32


def default_directory(settings: Any) -> Optional[Path]:
    """``cache_dir`` from the settings, else ``.dllint_cache`` in the project root."""
    directory = getattr(settings, "cache_dir", None)
    if directory is not None:
        return Path(directory)
    root = getattr(settings, "project_root", None)
    return Path(root) / DEFAULT_DIRNAME if root is not None else None


try:  # the builtin module: importing hashlib would initialise OpenSSL (~2 ms of start-up)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - CPython always has it
    from hashlib import blake2b


def content_digest(data: bytes) -> str:
    return blake2b(data, digest_size=32).hexdigest()


class ResultCache:
    """A directory of entries; ``load``/``store`` take the key from :meth:`key`."""

    def __init__(self, directory: Path, salt: Optional[str] = None) -> None:
        self.directory = Path(directory)
        self.salt = salt if salt is not None else code_fingerprint()
        self._entries = self.directory / _LAYOUT
        self._writable = True
        self._prepared = False
        self._selections: dict[frozenset, str] = {}  # (the options of a run are fixed)

    def key(
        self,
        *,
        filename: str,
        module: str,
        enabled: Iterable[str],
        options: Mapping[str, Mapping[str, Any]],
        digest: str,
        mode: str,
        extra: str = "",
    ) -> str:
        selection = self._selections.get(enabled) if isinstance(enabled, frozenset) else None
        if selection is None:
            codes = sorted(enabled)
            selection = ",".join(codes) + "\0" + repr([(code, sorted(options.get(code, {}).items())) for code in codes])
            if isinstance(enabled, frozenset):
                self._selections[enabled] = selection
        parts = [self.salt, filename, module, selection, digest, mode, extra]
        return blake2b("\0".join(parts).encode("utf-8", "surrogatepass"), digest_size=32).hexdigest()

    def _path(self, key: str) -> Path:
        return self._entries / key[:2] / key[2:]

    def load(self, key: str) -> Optional[bytes]:
        """The payload stored under ``key``, or None (missing, or anything that does not check out)."""
        try:
            with open(self._path(key), "rb") as handle:
                data = handle.read()
        except OSError:
            return None
        head = len(_MAGIC) + _KEY_BYTES + _DIGEST_BYTES
        if len(data) < head or not data.startswith(_MAGIC):
            return None
        if data[len(_MAGIC) : len(_MAGIC) + _KEY_BYTES] != key.encode("ascii"):
            return None
        payload = data[head:]
        if blake2b(payload, digest_size=_DIGEST_BYTES).digest() != data[head - _DIGEST_BYTES : head]:
            return None
        return payload

    def store(self, key: str, payload: bytes) -> None:
        if not self._writable:
            return
        try:
            self._prepare()
            path = self._path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            data = b"".join(
                (_MAGIC, key.encode("ascii"), blake2b(payload, digest_size=_DIGEST_BYTES).digest(), payload)
            )
            _atomic_write(path, data)
        except OSError:
            self._writable = False

    def prune(self, max_age: float = 30 * 86400, every: float = 86400) -> None:
        """Delete entries written more than ``max_age`` seconds ago (an unchanged file's entry
        is then simply written again), and temporary files left by killed runs — at most
        once per ``every`` seconds, so a run normally pays one ``stat``."""
        import time

        marker = self.directory / ".pruned"
        now = time.time()
        try:
            if now - os.stat(marker).st_mtime < every:
                return
        except FileNotFoundError:
            if not self._entries.is_dir():
                return
        except OSError:
            return
        try:
            _atomic_write(marker, b"")
            shards = list(os.scandir(self._entries))
        except OSError:
            return
        for shard in shards:
            try:
                entries = list(os.scandir(shard.path))
            except OSError:
                continue
            for entry in entries:
                try:
                    age = now - entry.stat().st_mtime
                    if age > max_age or (entry.name.endswith(".tmp") and age > 3600):
                        os.unlink(entry.path)
                except OSError:
                    continue

    def _prepare(self) -> None:
        """Create the directory with a ``.gitignore`` (``*``) and a ``CACHEDIR.TAG``."""
        if self._prepared:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        for name, content in (
            (".gitignore", b"# Created by dllint: this directory is a cache.\n*\n"),
            ("CACHEDIR.TAG", b"Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by dllint.\n"),
        ):
            target = self.directory / name
            if not target.exists():
                _atomic_write(target, content)
        self._prepared = True


def _atomic_write(path: Path, data: bytes) -> None:
    """Write to a unique temporary file next to ``path``, then rename it into place."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


_fingerprint: Optional[str] = None


def code_fingerprint() -> str:
    """What the cached results were computed by: dllint's version and source files (so an
    edited checkout never reads stale results), the Python minor version (pickles, syntax)
    and the installed LibCST (found without importing it)."""
    global _fingerprint
    if _fingerprint is not None:
        return _fingerprint
    parts = [__version__, f"{sys.version_info[0]}.{sys.version_info[1]}", sys.implementation.name]
    package = os.path.dirname(os.path.abspath(__file__))
    stack = [package]
    while stack:
        directory = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name == "__pycache__" or entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():
                    stack.append(entry.path)
                elif entry.name.endswith(".py"):
                    info = entry.stat()
                    parts.append(f"{os.path.relpath(entry.path, package)}:{info.st_size}:{info.st_mtime_ns}")
            except OSError:
                continue
    parts.append(_libcst_stamp())
    _fingerprint = blake2b("\n".join(parts).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    return _fingerprint


def _libcst_stamp() -> str:
    from importlib.util import find_spec

    try:
        spec = find_spec("libcst")
    except (ImportError, ValueError):
        return "libcst:?"
    if spec is None or not spec.origin:
        return "libcst:?"
    try:
        info = os.stat(spec.origin)
    except OSError:
        return f"libcst:{spec.origin}"
    return f"libcst:{spec.origin}:{info.st_size}:{info.st_mtime_ns}"
