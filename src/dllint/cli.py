"""The ``dllint`` command.

``dllint [OPTIONS] [PATHS]...`` lints (like flake8 or ``ruff check``); ``dllint check`` is the
same command by name, and ``dllint rule CODE``, ``dllint rules`` and ``dllint probe`` are
subcommands. The first argument decides: a subcommand's name runs it, anything else is
handed to ``check`` — so a path literally named ``rules`` is linted as ``./rules`` or with
``dllint check rules``.

Importing this module is cheap on purpose (pre-commit starts it for every batch of files):
only click is imported at the top; config, discovery, the engine and LibCST are imported
when a command runs, and torch only by ``dllint probe`` (loaded lazily, never by ``--help``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import IO, Any, Iterator, Optional, Sequence

import click

from dllint import __version__

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
FORMATS = ("full", "concise", "json", "sarif", "github", "junit")
PROBE_HINT = "pip install 'dllint[probe]'"
SERVER_HINT = "pip install 'dllint[server]'"


# --- the group: default command and lazy subcommands ------------------------------------------

class DllintGroup(click.Group):
    """A group that runs ``check`` when the first argument is not a subcommand, and imports
    heavy subcommands (``probe``, which needs torch) only when they are invoked."""

    # name -> (module, attribute, help line, what it needs)
    lazy_commands = {
        "probe": ("dllint.probe.cli", "probe_command", "Run the runtime probe on a model (needs torch).",
                  f"torch and the probe extra: {PROBE_HINT}"),
        "server": ("dllint.server", "server_command", "Run the language server for editors (LSP over stdio).",
                   f"pygls and lsprotocol: {SERVER_HINT}"),
    }
    default_command = "check"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in self.lazy_commands
                        and args[0] not in ("--help", "-h", "--version")):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.lazy_commands))

    def get_command(self, ctx: click.Context, name: str) -> Optional[click.Command]:
        if name in self.lazy_commands and name not in self.commands:
            module, attribute, _, needs = self.lazy_commands[name]
            return _load_lazy(name, module, attribute, needs)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in self.lazy_commands:
                rows.append((name, self.lazy_commands[name][2]))  # never import it for --help
            else:
                rows.append((name, self.commands[name].get_short_help_str(limit=formatter.width)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage("dllint", "[OPTIONS] [PATHS]...")
        formatter.write_usage("dllint", "COMMAND [ARGS]...", prefix="   or: ")
        check = self.commands[self.default_command]
        self.format_help_text(ctx, formatter)
        with click.Context(check, info_name="dllint", parent=None) as check_ctx:
            check.format_options(check_ctx, formatter)
        self.format_commands(ctx, formatter)
        formatter.write_paragraph()
        formatter.write_text(
            "A path named like a command (`rules`, `rule`, `check`, `probe`, `server`) is linted as `./rules` "
            "or with `dllint check rules`. `dllint --version` prints the version."
        )


def _load_lazy(name: str, module_name: str, attribute: str, needs: str) -> click.Command:
    import importlib

    try:
        module = importlib.import_module(module_name)
        command = getattr(module, attribute)
        if not isinstance(command, click.Command):
            raise ImportError(f"{module_name}.{attribute} is not a click command")
        return command
    except ImportError as error:
        reason = str(error)

    @click.command(
        name=name,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
        help=f"Unavailable: {reason}",
    )
    @click.pass_context
    def unavailable(ctx: click.Context) -> None:
        click.echo(
            f"error: `dllint {name}` is not available: {reason}.\n"
            f"It needs {needs}",
            err=True,
        )
        ctx.exit(EXIT_ERROR)

    return unavailable


@click.group(
    cls=DllintGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    no_args_is_help=False,
)
@click.version_option(__version__, "--version", prog_name="dllint", message="%(prog)s %(version)s")
def main() -> None:
    """dllint: a linter for PyTorch model code (and a runtime probe).

    Lints the .py and .ipynb files under PATHS (default: the current directory). Exit status:
    0 no findings, 1 findings, 2 usage, configuration or internal error.
    """


def run() -> None:
    """The ``dllint`` executable: :func:`main`, then a fast exit.

    Tearing the interpreter down frees LibCST's classes and a run's syntax trees one by one:
    about 12 ms, a tenth of linting one small file (the pre-commit case). Like mypy's fast
    exit, a lint run flushes its output and leaves with ``os._exit``; nothing on that path
    needs a clean shutdown (no atexit handler, the process pool already joined). ``dllint
    probe`` exits normally: torch, CUDA and distributed back-ends clean up at exit.
    """
    try:
        main()
    except SystemExit as exit:
        code = exit.code
        if isinstance(code, int) and "torch" not in sys.modules:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except Exception:  # noqa: BLE001 - a closed pipe: let Python report it as usual
                raise exit from None
            os._exit(code)
        raise


# --- check ------------------------------------------------------------------------------------

SELECT_HELP = (
    "Rule codes or prefixes (DL101, DL1, DL, ALL), comma-separated or repeated. A prefix does not turn on "
    "rules that are off by default: name them exactly (--extend-select DL505) or use ALL."
)


@main.command("check", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--select", multiple=True, metavar="CODES", help="Rules to enable instead of the defaults. " + SELECT_HELP)
@click.option("--extend-select", multiple=True, metavar="CODES", help="Rules to enable on top of the selection.")
@click.option("--ignore", multiple=True, metavar="CODES", help="Rules to disable (a more specific --select/--extend-select wins).")
@click.option("--per-file-ignores", multiple=True, metavar="PATTERN:CODES",
              help="Disable rules in files matching a gitignore-style PATTERN (replaces the config's), e.g. 'tests/*:DL5'.")
@click.option("--extend-per-file-ignores", multiple=True, metavar="PATTERN:CODES", help="Like --per-file-ignores, adding to the config's.")
@click.option("--exclude", multiple=True, metavar="PATTERNS", help="Files and directories to skip (replaces the default list).")
@click.option("--extend-exclude", multiple=True, metavar="PATTERNS", help="Files and directories to skip, besides the default list.")
@click.option("--force-exclude/--no-force-exclude", default=None, help="Apply exclusions even to paths given explicitly (for pre-commit).")
@click.option("--respect-gitignore/--no-respect-gitignore", default=None, help="Skip files ignored by .gitignore (default: on).")
@click.option("--config", "config_args", multiple=True, metavar="PATH|KEY=VALUE",
              help="A config file (pyproject.toml or dllint.toml) instead of the discovered one, or a TOML KEY = VALUE override.")
@click.option("--isolated", is_flag=True, help="Ignore configuration files.")
@click.option("--output-format", type=click.Choice(FORMATS), envvar="DLLINT_OUTPUT_FORMAT", default=None,
              help="How to print findings (default: full).")
@click.option("-o", "--output-file", type=click.Path(dir_okay=False, writable=True), help="Write the report to a file.")
@click.option("--statistics", is_flag=True, help="Print the number of findings per rule instead of the findings.")
@click.option("-e", "--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--fix/--no-fix", default=False, help="Apply the fixes of fixable findings, then report what remains.")
@click.option("--unsafe-fixes/--no-unsafe-fixes", default=None,
              help="Apply unsafe fixes too (they may change what the code computes); --no-unsafe-fixes also stops "
                   "the summary from mentioning them.")
@click.option("--fix-only", is_flag=True, help="Apply fixes but do not report the remaining findings.")
@click.option("--diff", is_flag=True, help="Print the fixes as a unified diff instead of writing them (exit 1 if any).")
@click.option("--add-noqa", is_flag=True,
              help="Append `# noqa: CODE` to every flagged line (merging with an existing `# noqa`) instead of "
                   "reporting; with --diff, show the comments instead of writing them.")
@click.option("--show-fixes/--no-show-fixes", default=None, help="List the fixes applied, per file and rule.")
@click.option("--stdin-filename", metavar="PATH", help="The name of the file read from stdin (`-`), for reports and per-file-ignores.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Worker processes (default: all cores).")
@click.option("--no-cache", is_flag=True, help="Do not read or write the result cache.")
@click.option("--cache-dir", type=click.Path(file_okay=False), envvar="DLLINT_CACHE_DIR", help="Where to keep the result cache.")
@click.option("--show-files", is_flag=True, help="Print the files that would be linted, and exit.")
@click.option("-q", "--quiet", is_flag=True, help="Print findings only, no summary line.")
def check_command(**options: Any) -> None:
    """Lint PATHS (files or directories, default `.`); `-` reads stdin."""
    try:
        code = run_check(**options)
    except click.ClickException:
        raise
    except Exception as error:  # noqa: BLE001 - exit 2 with a message, never click's exit 1
        from dllint.config import ConfigError

        if isinstance(error, (ConfigError, OutputFileError)):
            click.echo(f"error: {error}", err=True)
        else:
            import traceback

            click.echo(f"error: internal error (please report it): {error!r}\n{traceback.format_exc()}", err=True)
        code = EXIT_ERROR
    raise SystemExit(code)


def _settings(paths: Sequence[str], options: dict[str, Any]):
    from pathlib import Path

    from dllint import config as cfg

    config_file = None
    inline = []
    for value in options["config_args"]:
        if os.path.isfile(value) or ("=" not in value):
            if config_file is not None:
                raise cfg.ConfigError("--config: give at most one config file")
            config_file = value
        else:
            inline.append(value)
    if options["isolated"] and config_file:
        raise cfg.ConfigError("--config PATH and --isolated cannot be combined")
    settings = cfg.load_settings(paths, config=config_file, isolated=options["isolated"], inline=inline)

    changes: dict[str, Any] = {}
    select, ignore, extend = (
        cfg.selectors_from_cli(options[key], flag)
        for key, flag in (("select", "--select"), ("ignore", "--ignore"), ("extend_select", "--extend-select"))
    )
    if options["select"] or ignore or extend:
        layer = cfg.RuleSelection(select=select if options["select"] else None, ignore=ignore, extend_select=extend)
        changes["selections"] = tuple(settings.selections) + (layer,)
    if options["per_file_ignores"]:
        changes["per_file_ignores"] = cfg.parse_per_file_ignores(options["per_file_ignores"], "--per-file-ignores")
    if options["extend_per_file_ignores"]:
        changes["per_file_ignores"] = cfg.merge_per_file_ignores(
            changes.get("per_file_ignores", settings.per_file_ignores),
            cfg.parse_per_file_ignores(options["extend_per_file_ignores"], "--extend-per-file-ignores"),
        )
    if options["exclude"]:
        changes["exclude"] = tuple(cfg.split_selectors(options["exclude"]))
    if options["extend_exclude"]:
        changes["extend_exclude"] = tuple(settings.extend_exclude) + tuple(cfg.split_selectors(options["extend_exclude"]))
    for key in ("force_exclude", "respect_gitignore", "show_fixes", "unsafe_fixes"):
        if options[key] is not None:
            changes[key] = options[key]
    if options["output_format"]:
        changes["output_format"] = options["output_format"]
    if options["cache_dir"]:
        changes["cache_dir"] = Path(options["cache_dir"]).resolve()
    if options["no_cache"]:
        changes["use_cache"] = False
    if changes:
        settings = settings.replace(**changes)
    settings.check_rule_options()
    settings.selected_codes()
    return settings


def run_check(**options: Any) -> int:
    paths: list[str] = list(options["paths"])
    stdin_filename: Optional[str] = options["stdin_filename"]
    use_stdin = paths == ["-"] or (not paths and stdin_filename is not None)
    if "-" in paths and not use_stdin:
        raise click.UsageError("`-` (stdin) cannot be combined with other paths")
    add_noqa = options["add_noqa"]
    if add_noqa and (options["fix"] or options["fix_only"]):
        click.echo("warning: --fix is incompatible with --add-noqa and is ignored; fix first, then add noqa comments",
                   err=True)
    fix = not add_noqa and (options["fix"] or options["fix_only"] or options["diff"])
    fix_only = options["fix_only"] or options["diff"]

    settings = _settings([stdin_filename] if use_stdin and stdin_filename else (paths or ["."]), options)

    from dllint.files import display_path

    path_errors: list[str] = []
    preloaded = {}
    if use_stdin:
        from dllint.files import source_from_bytes
        from dllint.fixes import Document

        data = sys.stdin.buffer.read()
        filename = display_path(stdin_filename) if stdin_filename else "-"
        if stdin_filename and settings.force_exclude and _force_excluded(filename, settings):
            if (fix or add_noqa) and not options["diff"]:
                sys.stdout.buffer.write(data)
            return EXIT_CLEAN
        inputs: list[Any] = [source_from_bytes(data, filename)]
        preloaded[filename] = Document(filename, data)
        files = [filename]
    else:
        from dllint.engine import _PathSource
        from dllint.files import discover

        found = discover(
            paths or ["."],
            exclude=settings.all_exclude,
            root=settings.project_root,
            respect_gitignore=settings.respect_gitignore,
            force_exclude=settings.force_exclude,
        )
        for error in found.errors:
            click.echo(f"error: {error}", err=True)
        path_errors = found.errors
        files = found.files
        if options["show_files"]:
            for name in files:
                click.echo(name)
            return EXIT_ERROR if path_errors else EXIT_CLEAN
        if not files and not path_errors:
            click.echo("warning: no Python files found under the given paths", err=True)
        inputs = [_PathSource(name) for name in files]

    from dllint import engine

    def lint(items: Sequence[Any], fix_in_place: bool = False) -> Any:
        return engine.lint_sources(items, settings, jobs=options["jobs"], fix=fix_in_place)

    if add_noqa:
        with Spinner(len(files), enabled=_spinner_allowed()):
            result = lint(inputs)
        return _add_noqa(result, options, preloaded.get(files[0]) if use_stdin else None, path_errors)

    out_stream = _output_stream(options["output_file"])  # before linting: a bad path costs nothing
    try:
        with Spinner(len(files), enabled=_spinner_allowed()), _exit_on_sigterm(fix):
            # --fix writes each file as soon as its fixes are known; --diff and stdin write nothing
            result = lint(inputs, fix_in_place=fix and not options["diff"] and not use_stdin)
            outcome = None
            if fix:
                from dllint.fixes import fix_loop, in_place_outcome

                if result.internal_errors:
                    outcome = in_place_outcome(result)
                else:
                    outcome = fix_loop(inputs, result, lint, preloaded=preloaded, unsafe_fixes=settings.unsafe_fixes)
                result = outcome.result
                for warning in outcome.warnings:
                    click.echo(f"warning: {warning}", err=True)
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
        errors = _report(result, outcome, settings, options, out_stream, use_stdin, fix, fix_only,
                         preloaded.get(files[0]) if use_stdin else None)
    finally:
        if out_stream is not sys.stdout:
            out_stream.close()
    if isinstance(errors, int):  # --diff decides its own exit status
        return EXIT_ERROR if path_errors else errors
    for message in errors:
        click.echo(f"error: {message}", err=True)
    if errors or path_errors:
        return EXIT_ERROR
    if fix_only or options["exit_zero"]:
        return EXIT_CLEAN
    return EXIT_FINDINGS if result.findings else EXIT_CLEAN


def _report(result: Any, outcome: Any, settings: Any, options: dict[str, Any], out_stream: IO[str], use_stdin: bool,
            fix: bool, fix_only: bool, stdin_document: Any) -> "list[str] | int":
    """Write fixes (or the diff, or the fixed stdin) and the report; return the errors to print."""
    from dllint.report import ReportContext, render, render_statistics
    from dllint.report.text import fix_only_summary

    color = _color(out_stream, options["output_file"])
    context = ReportContext(
        fixed=outcome.fixed if outcome else {},
        unsafe_fixed=outcome.unsafe_fixed if outcome else {},
        show_fixes=settings.show_fixes,
        fix_mode=fix,
        color=color,
        quiet=options["quiet"],
        unsafe_fixes=settings.unsafe_fixes,
        docs_url=settings.docs_url,
    )
    errors = list(result.internal_errors) + (outcome.errors if outcome else [])
    changed = outcome.documents if outcome else {}
    report_stream = out_stream
    if options["diff"]:
        diff_text = "".join(doc.diff() for _, doc in sorted(changed.items()))
        click.echo(diff_text, nl=False, file=out_stream)
        summary = fix_only_summary(result.findings, context, applied=False)
        if summary:
            click.echo(summary, nl=False, err=True)
        for message in errors:
            click.echo(f"error: {message}", err=True)
        return EXIT_ERROR if errors else (EXIT_FINDINGS if diff_text else EXIT_CLEAN)
    if use_stdin and fix:
        # Like ruff: the fixed source goes to stdout, the report to stderr.
        document = next(iter(changed.values()), None) or stdin_document
        sys.stdout.flush()
        sys.stdout.buffer.write(document.content())
        sys.stdout.buffer.flush()
        report_stream = sys.stderr if options["output_file"] is None else out_stream
    elif changed:
        from dllint.fixes import write_documents

        errors.extend(write_documents(changed))
    if not fix_only:
        fmt = settings.output_format
        findings = result.findings
        text = render_statistics(fmt, findings, context) if options["statistics"] else render(fmt, findings, context)
        click.echo(text, nl=False, file=report_stream, color=color)
    elif not options["quiet"]:
        from dllint.report.text import fixes_summary

        if settings.show_fixes and context.fixed_count:
            click.echo(fixes_summary(context), nl=False, file=report_stream, color=color)
        click.echo(fix_only_summary(result.findings, context, applied=True), nl=False, file=report_stream)
    return errors


def _add_noqa(result: Any, options: dict[str, Any], stdin_document: Any, path_errors: list[str]) -> int:
    """Like ruff: write the comments (atomically), say how many on stderr, exit 0; --diff shows
    them instead (exit 1 if there are any); from stdin, the changed source goes to stdout."""
    from dllint.add_noqa import add_noqa
    from dllint.fixes import write_documents

    errors = list(result.internal_errors)
    added = 0
    if not errors:
        outcome = add_noqa(result.findings, {stdin_document.filename: stdin_document} if stdin_document else None)
        for warning in outcome.warnings:
            click.echo(f"warning: {warning}", err=True)
        if options["diff"]:
            added = sum(outcome.added.values())
            out_stream = _output_stream(options["output_file"])
            try:
                click.echo("".join(doc.diff() for _, doc in sorted(outcome.documents.items())), nl=False, file=out_stream)
            finally:
                if out_stream is not sys.stdout:
                    out_stream.close()
        elif stdin_document is not None:
            added = sum(outcome.added.values())
            document = outcome.documents.get(stdin_document.filename, stdin_document)
            sys.stdout.flush()
            sys.stdout.buffer.write(document.content())
            sys.stdout.buffer.flush()
        else:
            for filename, document in sorted(outcome.documents.items()):
                failed = write_documents({filename: document})
                errors.extend(failed)
                added += 0 if failed else outcome.added[filename]
        if added and not options["quiet"]:
            directives = f"{added} noqa directive{'' if added == 1 else 's'}"
            click.echo(f"Would add {directives}." if options["diff"] else f"Added {directives}.", err=True)
    for message in errors:
        click.echo(f"error: {message}", err=True)
    if errors or path_errors:
        return EXIT_ERROR
    return EXIT_FINDINGS if options["diff"] and added else EXIT_CLEAN


def _force_excluded(filename: str, settings: Any) -> bool:
    from dllint.files import PathFilter

    path_filter = PathFilter(settings.all_exclude, settings.project_root, settings.respect_gitignore)
    return path_filter.excluded_with_parents(os.path.abspath(filename), False)


@contextlib.contextmanager
def _exit_on_sigterm(enabled: bool) -> Iterator[None]:
    """While files may be written, SIGTERM exits through Python (SystemExit), so a write
    under way removes its temporary file; by default SIGTERM ends the process on the spot."""
    import signal

    if not enabled or not hasattr(signal, "SIGTERM") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class OutputFileError(Exception):
    """The report file cannot be written (exit 2 with this one line)."""


def _output_stream(output_file: Optional[str]) -> IO[str]:
    if output_file is None:
        return sys.stdout
    try:
        return open(output_file, "w", encoding="utf-8")
    except OSError as error:
        raise OutputFileError(f"cannot write the report to {output_file}: {error.strerror or error}") from None


def _color(stream: IO[str], output_file: Optional[str]) -> bool:
    from dllint.report import use_color

    return False if output_file else use_color(stream)


def _spinner_allowed() -> bool:
    try:
        return sys.stderr.isatty() and not os.environ.get("CI")
    except (AttributeError, ValueError):
        return False


class Spinner:
    """A spinner on stderr, shown only on a terminal and only once a run has taken over a second."""

    FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
    DELAY = 1.0

    def __init__(self, files: int, *, enabled: bool, stream: Optional[IO[str]] = None) -> None:
        self.files = files
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.shown = False
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def __enter__(self) -> "Spinner":
        if self.enabled:
            self._thread = threading.Thread(target=self._run, name="dllint-spinner", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        if self._stop.wait(self.DELAY):
            return
        frame = 0
        label = f"Linting {self.files} file{'' if self.files == 1 else 's'}…"
        while not self._stop.is_set():
            self.stream.write(f"\r{self.FRAMES[frame % len(self.FRAMES)]} {label}")
            self.stream.flush()
            self.shown = True
            frame += 1
            self._stop.wait(0.1)

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            if self.shown:
                self.stream.write("\r\x1b[2K")
                self.stream.flush()


# --- rule / rules -----------------------------------------------------------------------------

@main.command("rule")
@click.argument("code", required=False)
@click.option("--all", "show_all", is_flag=True, help="Explain every rule.")
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text", help="Markdown text or JSON.")
def rule_command(code: Optional[str], show_all: bool, output_format: str) -> None:
    """Explain a rule: what it does, why it matters, an example and the fix."""
    from dllint.rules import all_rules

    registry = all_rules()
    if show_all:
        chosen = list(registry.values())
    elif code is None:
        raise click.UsageError("give a rule code (e.g. `dllint rule DL101`) or --all")
    else:
        rule = registry.get(code.strip().upper())
        if rule is None:
            import difflib

            close = difflib.get_close_matches(code.upper(), list(registry), n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            click.echo(f"error: unknown rule code `{code}`.{hint} Run `dllint rules` to list them.", err=True)
            raise SystemExit(EXIT_ERROR)
        chosen = [rule]
    if output_format == "json":
        import json

        data = [_rule_dict(rule, _configured_docs_url()) for rule in chosen]
        click.echo(json.dumps(data if show_all else data[0], indent=2, ensure_ascii=False))
        return
    click.echo("\n\n".join(_rule_text(rule) for rule in chosen))


def _rule_dict(rule: Any, docs_url: str) -> dict[str, Any]:
    from dllint.findings import rule_url

    return {
        "code": rule.code,
        "name": rule.name,
        "summary": rule.summary,
        "default_enabled": bool(rule.default_enabled),
        "fixable": bool(rule.fixable),
        "fix_applicability": _fix_applicability(rule),
        "options": {name: {"default": option.default, "help": option.help} for name, option in rule.options.items()},
        "explanation": rule.documentation(),
        "url": rule_url(rule.code, docs_url),
    }


def _configured_docs_url() -> str:
    """The configured documentation site (`docs-url`) for the rule links that `dllint rule`
    prints; the default one, with a warning, when the configuration cannot be read."""
    from dllint import config as cfg

    try:
        return cfg.load_settings().docs_url
    except cfg.ConfigError as error:
        click.echo(f"warning: {error} (using the default docs-url)", err=True)
        return cfg.Settings().docs_url


def _rule_text(rule: Any) -> str:
    doc = rule.documentation()
    lines = [
        f"# {rule.name} ({rule.code})",
        "",
        f"{rule.summary}.".replace("..", "."),
        "",
        f"Default: {'on' if rule.default_enabled else 'off (enable it with `--extend-select ' + rule.code + '`)'}.",
        _fix_sentence(rule),
        "",
        doc,
    ]
    if rule.options and "## Options" not in doc:
        lines += ["", "## Options"]
        for name, option in rule.options.items():
            lines.append(f"- `{name}` (default: `{option.default!r}`): {option.help}")
        lines.append(f"\nSet them in `[tool.dllint.rules.{rule.code}]`.")
    return "\n".join(lines).rstrip() + "\n"


def _fix_applicability(rule: Any) -> list[str]:
    """The applicabilities of a rule's fixes ([] when it has none), safe first."""
    return sorted(rule.fix_applicability, reverse=True) if rule.fixable else []


def _fix_column(rule: Any) -> str:
    return "/".join(_fix_applicability(rule))


def _fix_sentence(rule: Any) -> str:
    kinds = _fix_applicability(rule)
    if not kinds:
        return "Fix is not available."
    if kinds == ["safe"]:
        return "Fix is available (`--fix`)."
    if kinds == ["unsafe"]:
        return "An unsafe fix is available (`--fix --unsafe-fixes`): it may change what the code computes, review it."
    return "Fix is available (`--fix`); some of its fixes are unsafe and need `--unsafe-fixes`."


@main.command("rules")
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text", help="A table or JSON.")
def rules_command(output_format: str) -> None:
    """List every rule: code, name, default on/off, its fixes (safe/unsafe), summary."""
    from dllint.rules import all_rules

    registry = all_rules()
    if output_format == "json":
        import json

        rows = [
            {"code": r.code, "name": r.name, "default_enabled": bool(r.default_enabled), "fixable": bool(r.fixable),
             "fix_applicability": _fix_applicability(r), "summary": r.summary}
            for r in registry.values()
        ]
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    header = ("CODE", "NAME", "DEFAULT", "FIX", "SUMMARY")
    rows = [
        (r.code, r.name, "on" if r.default_enabled else "off", _fix_column(r), r.summary)
        for r in registry.values()
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])


if __name__ == "__main__":  # pragma: no cover
    main()
