"""Configuration: ``[tool.dllint]`` in pyproject.toml (or a ``dllint.toml``), overridden by the CLI.

Rule selection works like ruff's. Selectors are full codes (``DL101``), prefixes (``DL``,
``DL1``, ``DL50``) or ``ALL``. The set starts from the rules that are on by default; each
layer of configuration (the config file, then the command line) either replaces it (when it
gives ``select``) or edits it (``extend-select`` adds, ``ignore`` removes). Within a layer
the more specific selector wins (``select = ["DL"]``, ``ignore = ["DL2"]``,
``extend-select = ["DL201"]`` enables DL201 and no other DL2xx rule); at equal specificity
``ignore`` wins. A rule that is off by default is turned on only by its exact code or by
``ALL`` — a prefix such as ``DL5`` does not enable the default-off DL505.

Every selector and every key is checked when the configuration is loaded; anything unknown
is a :class:`ConfigError` (exit 2), never silently ignored.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from dllint.findings import DEFAULT_DOCS_URL

DEFAULT_EXCLUDE: tuple[str, ...] = (
    ".bzr", ".direnv", ".dllint_cache", ".eggs", ".git", ".git-rewrite", ".hg", ".ipynb_checkpoints",
    ".mypy_cache", ".nox", ".pants.d", ".pyenv", ".pytest_cache", ".pytype", ".ruff_cache", ".svn",
    ".tox", ".venv", ".vscode", "__pycache__", "__pypackages__", "_build", "buck-out", "build", "dist",
    "node_modules", "site-packages", "venv",
)
OUTPUT_FORMATS = ("full", "concise", "json", "sarif", "github", "junit")
CONFIG_FILENAME = "dllint.toml"
ALL = "ALL"

# key -> (what it must be, help for the error message)
KNOWN_KEYS: dict[str, str] = {
    "select": "list of rule selectors",
    "ignore": "list of rule selectors",
    "extend-select": "list of rule selectors",
    "per-file-ignores": "table of pattern = [selectors]",
    "extend-per-file-ignores": "table of pattern = [selectors]",
    "exclude": "list of gitignore-style patterns",
    "extend-exclude": "list of gitignore-style patterns",
    "force-exclude": "boolean",
    "respect-gitignore": "boolean",
    "output-format": "one of " + ", ".join(OUTPUT_FORMATS),
    "show-fixes": "boolean",
    "unsafe-fixes": "boolean",
    "cache-dir": "path",
    "docs-url": "an http(s) URL: the documentation site that findings link to",
    "rules": "table of [rules.CODE] option tables",
}


class ConfigError(Exception):
    """A configuration or selection problem the user must fix (exit code 2)."""


class RuleSelection:
    """One layer of selection: a config file's or the command line's."""

    __slots__ = ("select", "ignore", "extend_select")

    def __init__(
        self,
        select: Optional[tuple[str, ...]] = None,
        ignore: tuple[str, ...] = (),
        extend_select: tuple[str, ...] = (),
    ) -> None:
        self.select = select
        self.ignore = ignore
        self.extend_select = extend_select


class Settings:
    """Everything a run is configured with. ``Settings()`` is the defaults (no config file)."""

    _ARGUMENTS = (
        "selections", "per_file_ignores", "exclude", "extend_exclude", "force_exclude", "respect_gitignore",
        "output_format", "show_fixes", "unsafe_fixes", "rules", "project_root", "config_file", "cache_dir", "use_cache",
        "docs_url",
    )
    __slots__ = _ARGUMENTS + ("_selected", "_per_file", "_ignore_specs")

    def __init__(
        self,
        selections: tuple[RuleSelection, ...] = (),
        per_file_ignores: Optional[Mapping[str, tuple[str, ...]]] = None,
        exclude: tuple[str, ...] = DEFAULT_EXCLUDE,
        extend_exclude: tuple[str, ...] = (),
        force_exclude: bool = False,
        respect_gitignore: bool = True,
        output_format: str = "full",
        show_fixes: bool = False,
        unsafe_fixes: Optional[bool] = None,
        rules: Optional[Mapping[str, Mapping[str, Any]]] = None,
        project_root: Optional[Path] = None,
        config_file: Optional[Path] = None,
        cache_dir: Optional[Path] = None,
        use_cache: bool = True,
        docs_url: str = DEFAULT_DOCS_URL,
    ) -> None:
        self.selections = selections
        self.per_file_ignores: Mapping[str, tuple[str, ...]] = {} if per_file_ignores is None else per_file_ignores
        self.exclude = exclude
        self.extend_exclude = extend_exclude
        self.force_exclude = force_exclude
        self.respect_gitignore = respect_gitignore
        self.output_format = output_format
        self.show_fixes = show_fixes
        # None: unsafe fixes are not applied and the summary says how many there are (ruff's
        # "hint"); True: applied like safe ones; False: not applied and not mentioned.
        self.unsafe_fixes = unsafe_fixes
        self.rules: Mapping[str, Mapping[str, Any]] = {} if rules is None else rules
        # Where per-file-ignores and exclude patterns are anchored: the config file's directory.
        self.project_root = Path.cwd() if project_root is None else project_root
        self.config_file = config_file
        # Read by the engine's result cache: (content hash, version, config hash) -> findings.
        self.cache_dir = cache_dir
        self.use_cache = use_cache
        # The documentation site's base URL: a finding's `url` is `{docs_url}rules/{code}/`.
        self.docs_url = docs_url
        self._selected: Optional[frozenset[str]] = None
        self._per_file: dict[str, frozenset[str]] = {}
        self._ignore_specs: Optional[list[tuple[Any, bool, frozenset[str]]]] = None

    def replace(self, **changes: Any) -> Settings:
        """These settings with ``changes`` made (a new object, with empty per-run caches)."""
        arguments = {name: getattr(self, name) for name in self._ARGUMENTS}
        arguments.update(changes)
        return type(self)(**arguments)

    # --- what the engine asks --------------------------------------------------------------

    def enabled_codes(self, filename: str) -> frozenset[str]:
        cached = self._per_file.get(filename)
        if cached is not None:
            return cached
        enabled = self.selected_codes()
        if self.per_file_ignores:
            enabled = enabled - self.ignored_for(filename)
        self._per_file[filename] = enabled
        return enabled

    def rule_settings(self, code: str) -> Mapping[str, Any]:
        return self.rules.get(code, {})

    # --- selection -------------------------------------------------------------------------

    @property
    def all_exclude(self) -> tuple[str, ...]:
        return tuple(self.exclude) + tuple(self.extend_exclude)

    def selected_codes(self) -> frozenset[str]:
        if self._selected is None:
            self._selected = resolve_selection(self.selections, _registry())
        return self._selected

    def ignored_for(self, filename: str) -> frozenset[str]:
        if self._ignore_specs is None:
            import pathspec

            registry = _registry()
            specs = []
            for pattern, selectors in self.per_file_ignores.items():
                negated = pattern.startswith("!")
                spec = pathspec.GitIgnoreSpec.from_lines([pattern[1:] if negated else pattern])
                codes = frozenset(code for selector in selectors for code in _matching(selector, registry))
                specs.append((spec, negated, codes))
            self._ignore_specs = specs
        absolute = os.path.abspath(filename)
        try:
            relative = os.path.relpath(absolute, self.project_root)
        except ValueError:
            relative = absolute
        if relative.startswith(os.pardir):
            relative = absolute.lstrip("/\\")
        relative = relative.replace(os.sep, "/")
        ignored: set[str] = set()
        for spec, negated, codes in self._ignore_specs:
            if spec.match_file(relative) != negated:
                ignored |= codes
        return frozenset(ignored)

    def check_rule_options(self) -> None:
        """Instantiate each configured rule with its options: its own validation, run now."""
        from dllint import rules

        registry = _registry()
        where = str(_shown(self.config_file, Path.cwd())) if self.config_file else "configuration"
        for code, options in self.rules.items():
            if code not in registry:
                raise ConfigError(f"{where}: [rules.{code}]: {_unknown_code_message(code, registry)}")
            try:
                rules.all_rules()[code](options)
            except ValueError as error:
                raise ConfigError(f"{where}: [rules.{code}]: {error}") from None


def _registry() -> dict[str, Any]:
    from dllint import rules

    return rules.rule_catalog()


def _specificity(selector: str) -> int:
    if selector == ALL:
        return 0
    return len(selector)


def _matching(selector: str, registry: Mapping[str, Any], *, for_select: bool = False) -> list[str]:
    """Codes a selector names. For ``select``, a prefix skips rules that are off by default."""
    if selector == ALL:
        return list(registry)
    if selector in registry:
        return [selector]
    return [
        code for code, rule in registry.items()
        if code.startswith(selector) and (not for_select or getattr(rule, "default_enabled", True))
    ]


def resolve_selection(layers: Iterable[RuleSelection], registry: Mapping[str, Any]) -> frozenset[str]:
    """ruff's algorithm: per layer, most specific selector last; ``select`` restarts the set."""
    selected = {code for code, rule in registry.items() if getattr(rule, "default_enabled", True)}
    for layer in layers:
        updates: dict[str, bool] = {}
        selects = list(layer.select or ()) + list(layer.extend_select)
        levels = sorted({_specificity(s) for s in selects} | {_specificity(s) for s in layer.ignore})
        for level in levels:
            for selector in selects:
                if _specificity(selector) == level:
                    for code in _matching(selector, registry, for_select=True):
                        updates[code] = True
            for selector in layer.ignore:
                if _specificity(selector) == level:
                    for code in _matching(selector, registry):
                        updates[code] = False
        if layer.select is not None:
            selected = {code for code, on in updates.items() if on}
        else:
            for code, on in updates.items():
                (selected.add if on else selected.discard)(code)
    return frozenset(selected)


# --- validation -------------------------------------------------------------------------------

def _unknown_code_message(selector: str, registry: Mapping[str, Any]) -> str:
    import difflib

    close = difflib.get_close_matches(selector, list(registry), n=1)
    hint = f" Did you mean `{close[0]}`?" if close else ""
    return (
        f"unknown rule selector `{selector}`: no dllint rule code is or starts with it.{hint} "
        "Run `dllint rules` to list the codes."
    )


def check_selectors(values: Iterable[str], origin: str) -> tuple[str, ...]:
    """Normalise selectors (upper case) and reject any that names no rule."""
    registry = _registry()
    out = []
    for raw in values:
        if not isinstance(raw, str):
            raise ConfigError(f"{origin}: rule selectors must be strings, got {raw!r}")
        selector = raw.strip().upper()
        if not selector:
            raise ConfigError(f"{origin}: {_EMPTY_SELECTOR}")
        if selector != ALL and not any(code.startswith(selector) for code in registry):
            raise ConfigError(f"{origin}: {_unknown_code_message(selector, registry)}")
        out.append(selector)
    return tuple(out)


def check_docs_url(value: Any, origin: str) -> str:
    """A documentation site's base URL: absolute http(s) (or file) with no query or fragment,
    ending in ``/`` (added when missing) so that ``rules/DL101/`` can be appended."""
    from urllib.parse import urlsplit

    if not isinstance(value, str):
        raise ConfigError(f"{origin}: must be a URL string, got {value!r}")
    parts = urlsplit(value.strip())
    valid = (parts.scheme in ("http", "https") and parts.netloc) or (parts.scheme == "file" and parts.path)
    if not valid or parts.query or parts.fragment:
        raise ConfigError(
            f"{origin}: must be an absolute http(s) URL without query or fragment, such as "
            f"\"https://docs.example.com/dllint/\" (the rule pages are under rules/CODE/), got {value!r}"
        )
    url = value.strip()
    return url if url.endswith("/") else url + "/"


_EMPTY_SELECTOR = "an empty rule selector: give rule codes or prefixes, e.g. DL101, DL1 or ALL"


def split_selectors(values: Iterable[str]) -> list[str]:
    """``--exclude a,b --exclude c`` → ``["a", "b", "c"]`` (empty parts dropped)."""
    return [part for value in values for part in value.split(",") if part.strip()]


def selectors_from_cli(values: Iterable[str], origin: str) -> tuple[str, ...]:
    """``--select DL1,DL2 --select DL3`` → ``("DL1", "DL2", "DL3")``, checked. An empty part
    (``--select ,``, ``--select ''``, ``DL1,``) is an error: it used to select nothing at all,
    silently, and the run passed."""
    parts = [part for value in values for part in value.split(",")]
    for value in values:
        if not value.strip() or any(not part.strip() for part in value.split(",")):
            raise ConfigError(f"{origin}: invalid value {value!r}: {_EMPTY_SELECTOR}")
    return check_selectors(parts, origin)


def parse_per_file_ignores(entries: Iterable[str], origin: str) -> dict[str, tuple[str, ...]]:
    """CLI form ``PATTERN:CODES`` (``tests/*:DL5,DL101``) → mapping."""
    result: dict[str, tuple[str, ...]] = {}
    for entry in entries:
        pattern, sep, codes = entry.rpartition(":")
        if not sep or not pattern:
            raise ConfigError(f"{origin}: expected PATTERN:CODES (e.g. 'tests/*:DL5'), got {entry!r}")
        result[pattern] = result.get(pattern, ()) + selectors_from_cli([codes], f"{origin} {entry!r}")
    return result


def merge_per_file_ignores(
    base: Mapping[str, tuple[str, ...]], extra: Mapping[str, tuple[str, ...]]
) -> dict[str, tuple[str, ...]]:
    merged = dict(base)
    for pattern, selectors in extra.items():
        merged[pattern] = tuple(merged.get(pattern, ())) + tuple(selectors)
    return merged


def _expect_list(table: Mapping[str, Any], key: str, origin: str) -> Optional[tuple[str, ...]]:
    if key not in table:
        return None
    value = table[key]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{origin}: `{key}` must be a list of strings, got {value!r}")
    return tuple(value)


def _expect_bool(table: Mapping[str, Any], key: str, origin: str) -> Optional[bool]:
    if key not in table:
        return None
    if not isinstance(table[key], bool):
        raise ConfigError(f"{origin}: `{key}` must be true or false, got {table[key]!r}")
    return table[key]


def _per_file_table(table: Mapping[str, Any], key: str, origin: str) -> Optional[dict[str, tuple[str, ...]]]:
    if key not in table:
        return None
    value = table[key]
    if not isinstance(value, dict):
        raise ConfigError(f"{origin}: `{key}` must be a table of pattern = [codes]")
    result = {}
    for pattern, selectors in value.items():
        if not isinstance(selectors, list):
            raise ConfigError(f"{origin}: `{key}.{pattern}` must be a list of rule selectors")
        result[pattern] = check_selectors(selectors, f"{origin}: `{key}.{pattern}`")
    return result


# --- files ------------------------------------------------------------------------------------

def _load_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.9/3.10 only
        import tomli as tomllib
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{_shown(path, Path.cwd())}: invalid TOML: {error}") from None
    except OSError as error:
        raise ConfigError(f"{_shown(path, Path.cwd())}: cannot read config file: {error.strerror or error}") from None


def _parse_toml_text(text: str, origin: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{origin}: invalid TOML: {error}") from None


def _has_dllint_table(pyproject: Path) -> bool:
    """Whether a pyproject.toml met on the way up holds ``[tool.dllint]``. It is parsed
    whatever it holds, and invalid TOML is an error, as ruff reports it: skipping it in
    silence hid a broken configuration."""
    table = _load_toml(pyproject)
    return isinstance(table.get("tool"), dict) and "dllint" in table["tool"]


def find_config_file(start: Path) -> Optional[Path]:
    """The first ``dllint.toml``, or ``pyproject.toml`` with ``[tool.dllint]``, from ``start`` up."""
    current = Path(os.path.abspath(start))
    if current.is_file():
        current = current.parent
    for directory in (current, *current.parents):
        candidate = directory / CONFIG_FILENAME
        if candidate.is_file():
            return candidate
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and _has_dllint_table(pyproject):
            return pyproject
    return None


def read_config_table(path: Path) -> dict[str, Any]:
    """The dllint table of a config file (top level of dllint.toml, [tool.dllint] of pyproject)."""
    data = _load_toml(path)
    if path.name != "pyproject.toml":  # dllint.toml, or any other file given with --config
        return data
    tool = data.get("tool", {})
    table = tool.get("dllint") if isinstance(tool, dict) else None
    if table is None:
        raise ConfigError(f"{_shown(path, Path.cwd())}: has no [tool.dllint] table")
    if not isinstance(table, dict):
        raise ConfigError(f"{_shown(path, Path.cwd())}: [tool.dllint] must be a table")
    return table


def settings_from_table(table: Mapping[str, Any], origin: str, base: Optional[Settings] = None) -> Settings:
    """Validate a dllint table and lay it over ``base`` (a config layer, or inline --config)."""
    settings = base or Settings()
    for key in table:
        if key not in KNOWN_KEYS:
            import difflib

            close = difflib.get_close_matches(key, list(KNOWN_KEYS), n=1)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            if key == "tool":
                hint = " In dllint.toml the settings go at the top level, without [tool.dllint]."
            raise ConfigError(f"{origin}: unknown key `{key}`.{hint} Known keys: {', '.join(KNOWN_KEYS)}")
    changes: dict[str, Any] = {}
    select = _expect_list(table, "select", origin)
    ignore = _expect_list(table, "ignore", origin)
    extend = _expect_list(table, "extend-select", origin)
    if select is not None or ignore is not None or extend is not None:
        layer = RuleSelection(
            select=check_selectors(select, f"{origin}: `select`") if select is not None else None,
            ignore=check_selectors(ignore or (), f"{origin}: `ignore`"),
            extend_select=check_selectors(extend or (), f"{origin}: `extend-select`"),
        )
        changes["selections"] = tuple(settings.selections) + (layer,)
    per_file = _per_file_table(table, "per-file-ignores", origin)
    if per_file is not None:
        changes["per_file_ignores"] = per_file
    extend_per_file = _per_file_table(table, "extend-per-file-ignores", origin)
    if extend_per_file:
        changes["per_file_ignores"] = merge_per_file_ignores(
            changes.get("per_file_ignores", settings.per_file_ignores), extend_per_file
        )
    exclude = _expect_list(table, "exclude", origin)
    if exclude is not None:
        changes["exclude"] = exclude
    extend_exclude = _expect_list(table, "extend-exclude", origin)
    if extend_exclude is not None:
        changes["extend_exclude"] = tuple(settings.extend_exclude) + extend_exclude
    for key, attr in (("force-exclude", "force_exclude"), ("respect-gitignore", "respect_gitignore"), ("show-fixes", "show_fixes"),
                      ("unsafe-fixes", "unsafe_fixes")):
        value = _expect_bool(table, key, origin)
        if value is not None:
            changes[attr] = value
    if "output-format" in table:
        value = table["output-format"]
        if value not in OUTPUT_FORMATS:
            raise ConfigError(f"{origin}: `output-format` must be one of {', '.join(OUTPUT_FORMATS)}, got {value!r}")
        changes["output_format"] = value
    if "cache-dir" in table:
        if not isinstance(table["cache-dir"], str):
            raise ConfigError(f"{origin}: `cache-dir` must be a path string")
        changes["cache_dir"] = (settings.project_root / os.path.expanduser(table["cache-dir"])).resolve()
    if "docs-url" in table:
        changes["docs_url"] = check_docs_url(table["docs-url"], f"{origin}: `docs-url`")
    if "rules" in table:
        rules = table["rules"]
        if not isinstance(rules, dict) or not all(isinstance(v, dict) for v in rules.values()):
            raise ConfigError(f"{origin}: `rules` must hold one table per code, e.g. [tool.dllint.rules.DL201]")
        registry = _registry()
        merged_rules = {code: dict(options) for code, options in settings.rules.items()}
        for code, options in rules.items():
            upper = code.upper()
            if upper not in registry:
                raise ConfigError(f"{origin}: [rules.{code}]: {_unknown_code_message(upper, registry)}")
            merged_rules.setdefault(upper, {}).update(options)
        changes["rules"] = merged_rules
    return settings.replace(**changes) if changes else settings


def load_settings(
    paths: Sequence[str] = (),
    *,
    config: Optional[str] = None,
    isolated: bool = False,
    inline: Sequence[str] = (),
) -> Settings:
    """Settings for a run: the discovered (or given) config file, then inline ``KEY = VALUE`` overrides."""
    cwd = Path.cwd()
    config_path: Optional[Path] = None
    if config is not None:
        config_path = Path(config)
        if not config_path.is_file():
            raise ConfigError(f"--config: no such file: {config}")
    elif not isolated:
        config_path = find_config_file(_common_parent(paths, cwd))
    settings = Settings(project_root=cwd)
    if config_path is not None:
        config_path = Path(os.path.abspath(config_path))
        settings = Settings(project_root=config_path.parent, config_file=config_path)
        settings = settings_from_table(read_config_table(config_path), str(_shown(config_path, cwd)), settings)
    for snippet in inline:
        settings = settings_from_table(_parse_toml_text(snippet, "--config"), f"--config {snippet!r}", settings)
    env_cache = os.environ.get("DLLINT_CACHE_DIR")
    if env_cache and settings.cache_dir is None:
        settings = settings.replace(cache_dir=Path(env_cache))
    return settings


def _shown(path: Path, cwd: Path) -> Path:
    try:
        return path.relative_to(cwd)
    except ValueError:
        return path


def _common_parent(paths: Sequence[str], cwd: Path) -> Path:
    real = [p for p in paths if p != "-"]
    if not real:
        return cwd
    absolute = [os.path.abspath(os.path.join(cwd, p)) for p in real]
    try:
        common = os.path.commonpath(absolute)
    except ValueError:
        return cwd
    return Path(common)
