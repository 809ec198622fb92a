"""Which files a run lints, and how each one becomes text.

Discovery follows ruff: directories are walked for ``.py``, ``.pyi`` and ``.ipynb`` files,
skipping what ``exclude``/``extend-exclude`` and ``.gitignore`` files say (gitignore
semantics via :mod:`pathspec`); a path named explicitly is linted even when excluded, unless
``--force-exclude``. Symlinked directories are not followed (no cycles); symlinked files are,
and a broken one is reported (DL001) rather than skipped silently.

:func:`load_source` never raises: whatever stops a file from becoming Python text (bad
bytes, a NUL byte, bad notebook JSON, a path that cannot be read) comes back as
``Source.error``, which the engine reports as one DL001 finding.
"""

from __future__ import annotations

import io
import os
import stat
import tokenize
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional, Sequence, Union

from dllint.sources import Source, SourceError

if TYPE_CHECKING:
    import pathspec

PYTHON_SUFFIXES = (".py", ".pyi")
NOTEBOOK_SUFFIX = ".ipynb"
SUFFIXES = PYTHON_SUFFIXES + (NOTEBOOK_SUFFIX,)


def is_notebook(path: Union[str, os.PathLike]) -> bool:
    return str(path).lower().endswith(NOTEBOOK_SUFFIX)


# --- reading ----------------------------------------------------------------------------------

def load_source(path: Path) -> Source:
    """The file's text for the engine; problems come back as ``Source.error``, never raised."""
    filename = str(path)
    data = read_bytes(path)
    if isinstance(data, SourceError):
        return Source(filename, None, error=data)
    return source_from_bytes(data, filename)


def read_bytes(path: Path) -> Union[bytes, SourceError]:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return SourceError(f"broken symbolic link: its target {os.readlink(path)!r} does not exist")
        return SourceError("cannot read file: no such file")
    except OSError as error:
        return SourceError(f"cannot read file: {error.strerror or error}")
    if stat.S_ISDIR(info.st_mode):
        return SourceError("cannot read file: it is a directory")
    if not stat.S_ISREG(info.st_mode):
        return SourceError("cannot read file: not a regular file (a FIFO, socket or device)")
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        return SourceError(f"cannot read file: {error.strerror or error}")


def source_from_bytes(data: bytes, filename: str) -> Source:
    """Python source or notebook JSON (by ``filename``'s suffix) → :class:`Source`."""
    if is_notebook(filename):
        from dllint.notebooks import notebook_source

        return notebook_source(data, filename)
    decoded = decode_python(data)
    if isinstance(decoded, SourceError):
        return Source(filename, None, error=decoded)
    return Source(filename, decoded[0])


def decode_python(data: bytes) -> Union[tuple[str, str], SourceError]:
    """(text, encoding) of Python source bytes, honouring a BOM and a PEP 263 coding cookie.

    Line endings are kept as they are (``\\r\\n`` stays ``\\r\\n``) so fixes write back what
    they read. The encoding returned is ``utf-8-sig`` when the file starts with a BOM.
    """
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:
        head = data.split(b"\n", 2)[:2]
        if any(b"coding" in line for line in head):  # a cookie naming an unknown codec
            row = getattr(error, "lineno", None) or (1 if b"coding" in head[0] else 2)
            return SourceError(f"SyntaxError: {getattr(error, 'msg', error)}", row, 1)
        # No cookie: the first lines are simply not UTF-8; decode below says where.
        encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        row, column = _byte_position(data, error.start, encoding)
        bad = data[error.start : error.start + 1].hex()
        return SourceError(
            f"SyntaxError: invalid {encoding} byte 0x{bad} (save the file as UTF-8 or declare its encoding "
            "with a `# -*- coding: ... -*-` comment)",
            row,
            column,
        )
    except LookupError:  # pragma: no cover - detect_encoding only returns codecs it found
        return SourceError(f"SyntaxError: unknown encoding {encoding}")
    nul = text.find("\x00")
    if nul >= 0:
        row = text.count("\n", 0, nul) + 1
        column = nul - (text.rfind("\n", 0, nul) + 1) + 1
        return SourceError("SyntaxError: source code cannot contain a NUL byte", row, column)
    return text, encoding


def _byte_position(data: bytes, offset: int, encoding: str) -> tuple[int, int]:
    row = data.count(b"\n", 0, offset) + 1
    line_start = data.rfind(b"\n", 0, offset) + 1
    prefix = data[line_start:offset].decode(encoding, errors="replace")
    return row, len(prefix) + 1


# --- discovery --------------------------------------------------------------------------------

class Discovery:
    __slots__ = ("files", "errors")

    def __init__(self, files: Optional[list[str]] = None, errors: Optional[list[str]] = None) -> None:
        self.files: list[str] = [] if files is None else files  # display paths (relative to cwd where under it)
        self.errors: list[str] = [] if errors is None else errors  # one line each, for paths that do not exist


def display_path(path: Union[str, os.PathLike], cwd: Optional[str] = None) -> str:
    """``path`` as the user should see it: relative to the cwd when under it, like ruff."""
    cwd = cwd or os.getcwd()
    absolute = os.path.normpath(os.path.join(cwd, os.fspath(path)))
    try:
        relative = os.path.relpath(absolute, cwd)
    except ValueError:  # another drive on Windows
        return absolute
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return os.path.normpath(os.fspath(path))
    return relative


class PathFilter:
    """``exclude`` patterns and ``.gitignore`` files, both with gitignore semantics."""

    def __init__(
        self, exclude: Sequence[str], root: Path, respect_gitignore: bool = True, boundary: Optional[str] = None
    ) -> None:
        import pathspec

        self.root = Path(os.path.abspath(root))
        self.boundary = boundary  # .gitignore files above this directory are not read
        self.exclude = pathspec.GitIgnoreSpec.from_lines(exclude)
        self.respect_gitignore = respect_gitignore
        self._ignore_files: dict[str, Optional["pathspec.GitIgnoreSpec"]] = {}
        self._chains: dict[str, list[tuple[str, "pathspec.GitIgnoreSpec"]]] = {}

    def excluded(self, path: str, is_dir: bool) -> bool:
        """Whether ``path`` (absolute) matches ``exclude`` or a ``.gitignore`` above it."""
        return self._matches_exclude(path, is_dir) or (self.respect_gitignore and self._gitignored(path, is_dir))

    def excluded_with_parents(self, path: str, is_dir: bool) -> bool:
        """Like :meth:`excluded`, also when one of its directories is (for ``--force-exclude``)."""
        if self.excluded(path, is_dir):
            return True
        parent = os.path.dirname(path)
        while parent and parent != os.path.dirname(parent):
            if self.excluded(parent, True):
                return True
            parent = os.path.dirname(parent)
        return False

    def _matches_exclude(self, path: str, is_dir: bool) -> bool:
        relative = _relative_posix(path, str(self.root))
        if relative is None:
            relative = path.lstrip("/\\").replace(os.sep, "/")
        if not relative or relative == ".":
            return False
        return self.exclude.match_file(relative + "/" if is_dir else relative)

    def _gitignored(self, path: str, is_dir: bool) -> bool:
        verdict: Optional[bool] = None
        for base, spec in self._specs_for(os.path.dirname(path)):
            relative = _relative_posix(path, base)
            if relative is None:
                continue
            result = spec.check_file(relative + "/" if is_dir else relative)
            if result.include is not None:
                verdict = result.include  # deeper .gitignore files are checked later and win
        return bool(verdict)

    def _specs_for(self, directory: str) -> list[tuple[str, "pathspec.GitIgnoreSpec"]]:
        """The ignore specs that apply inside ``directory``, outermost first (up to the git root)."""
        cached = self._chains.get(directory)
        if cached is not None:
            return cached
        chain: list[str] = []
        current = directory
        while True:
            chain.append(current)
            if current == self.boundary or os.path.isdir(os.path.join(current, ".git")):
                break
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
        specs = []
        for base in reversed(chain):
            spec = self._spec(base)
            if spec is not None:
                specs.append((base, spec))
        self._chains[directory] = specs
        return specs

    def _spec(self, directory: str) -> Optional["pathspec.GitIgnoreSpec"]:
        if directory not in self._ignore_files:
            import pathspec

            lines: list[str] = []
            for name in (".gitignore", os.path.join(".git", "info", "exclude")):
                try:
                    with open(os.path.join(directory, name), encoding="utf-8", errors="replace") as handle:
                        lines.extend(handle.read().splitlines())
                except OSError:
                    continue
            self._ignore_files[directory] = pathspec.GitIgnoreSpec.from_lines(lines) if lines else None
        return self._ignore_files[directory]


def _relative_posix(path: str, base: str) -> Optional[str]:
    try:
        relative = os.path.relpath(path, base)
    except ValueError:
        return None
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return None
    return relative.replace(os.sep, "/")


def discover(
    paths: Sequence[str],
    *,
    exclude: Sequence[str],
    root: Path,
    respect_gitignore: bool = True,
    force_exclude: bool = False,
) -> Discovery:
    """The files to lint under ``paths``, sorted, each once."""
    cwd = os.getcwd()
    result = Discovery()
    seen: set[str] = set()
    path_filter: Optional[PathFilter] = None

    def get_filter() -> PathFilter:
        nonlocal path_filter
        if path_filter is None:
            path_filter = PathFilter(exclude, root, respect_gitignore)
        return path_filter

    found: list[str] = []
    for given in paths:
        absolute = os.path.normpath(os.path.join(cwd, given))
        if not os.path.lexists(absolute):
            result.errors.append(f"{given}: no such file or directory")
            continue
        is_dir = os.path.isdir(absolute)  # a symlink to a directory named explicitly is walked
        if force_exclude and get_filter().excluded_with_parents(absolute, is_dir):
            continue
        if is_dir:
            walk_filter = get_filter()
            if walk_filter.excluded_with_parents(absolute, True):
                # An excluded directory named explicitly is linted as a tree of its own: its
                # contents are not excluded merely for being inside it.
                walk_filter = PathFilter(exclude, Path(absolute), respect_gitignore, boundary=absolute)
            found.extend(_walk(absolute, walk_filter))
        else:
            found.append(absolute)
    for absolute in found:
        shown = display_path(absolute, cwd)
        if shown not in seen:
            seen.add(shown)
            result.files.append(shown)
    result.files.sort()
    return result


def _walk(directory: str, path_filter: PathFilter) -> Iterator[str]:
    stack = [directory]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not path_filter.excluded(entry.path, True):
                        stack.append(entry.path)
                    continue
            except OSError:
                continue
            if not entry.name.lower().endswith(SUFFIXES):
                continue
            if path_filter.excluded(entry.path, False):
                continue
            try:
                if entry.is_symlink() and os.path.isdir(entry.path):
                    continue  # a link to a directory named like a file; never followed
            except OSError:
                pass
            yield entry.path
