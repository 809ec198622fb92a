"""``dllint probe pkg.module:factory --input 8,3,32,32`` — the probe on a synthetic batch.

The main CLI registers :data:`probe_command` lazily, so importing this module must not import
torch either: torch is imported when the command runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from typing import Any, Callable, Optional

import click

_DTYPES = {"float": "float32", "float32": "float32", "float64": "float64", "double": "float64",
           "float16": "float16", "half": "float16", "bfloat16": "bfloat16", "long": "int64",
           "int64": "int64", "int": "int64", "int32": "int32", "bool": "bool"}


def parse_input_spec(spec: str) -> tuple:
    """``8,3,32,32`` → ((8,3,32,32), "float32", None); ``8,16:long:1000`` → (..., "int64", 1000)."""
    parts = spec.split(":")
    try:
        shape = tuple(int(d) for d in parts[0].replace("x", ",").split(",") if d.strip())
    except ValueError:
        raise click.BadParameter(f"{spec!r}: the shape must be comma-separated integers, e.g. 8,3,32,32") from None
    if not shape or any(d <= 0 for d in shape):
        raise click.BadParameter(f"{spec!r}: the shape must have positive dimensions")
    dtype = _DTYPES.get(parts[1].strip().lower()) if len(parts) > 1 else "float32"
    if dtype is None:
        raise click.BadParameter(f"{spec!r}: unknown dtype {parts[1]!r} (one of {', '.join(sorted(_DTYPES))})")
    high = None
    if len(parts) > 2:
        try:
            high = int(parts[2])
        except ValueError:
            raise click.BadParameter(f"{spec!r}: the upper bound after the dtype must be an integer") from None
    if dtype in ("int64", "int32") and high is None:
        raise click.BadParameter(f"{spec!r}: integer inputs need an upper bound, e.g. 8,16:long:1000")
    return shape, dtype, high


def parse_target_spec(spec: Optional[str]) -> tuple:
    if spec is None or spec in ("regression", "mse"):
        return ("regression", None)
    if spec.startswith("classes:"):
        try:
            n = int(spec.split(":", 1)[1])
        except ValueError:
            n = 0
        if n < 2:
            raise click.BadParameter(f"{spec!r}: use classes:N with N >= 2")
        return ("classes", n)
    raise click.BadParameter(f"{spec!r}: use classes:N or regression")


class ProbeError(click.ClickException):
    """A failure that is not a finding about the model (a target that does not import, a model that
    cannot run on the input, an unwritable --plot path): one line on stderr, exit 2, no traceback."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"dllint probe: error: {self.format_message()}", err=True)


def _where(exc: BaseException) -> str:
    """``file.py:12``: the innermost frame of ``exc`` in the user's code (not torch's, not dllint's,
    not the import machinery), or "" when there is none."""
    import dllint

    own = tuple(os.path.dirname(os.path.abspath(m.__file__)) + os.sep
                for m in (dllint, sys.modules.get("torch")) if m is not None and getattr(m, "__file__", None))
    where = ""
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not filename.startswith("<") and not os.path.abspath(filename).startswith(own):
            where = f"{_shown(filename)}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


def _shown(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def _import_failed(what: str, exc: BaseException) -> ProbeError:
    if isinstance(exc, SyntaxError):
        return ProbeError(f"{what} does not import: {_shown(exc.filename or '?')}:{exc.lineno}: SyntaxError: {exc.msg}")
    where = _where(exc)
    return ProbeError(f"{what} does not import: {type(exc).__name__}: {exc}" + (f" (at {where})" if where else ""))


def load_factory(target: str) -> tuple:
    """``pkg.module:factory`` or ``path/to/file.py:factory`` → (factory, module). Raises
    :class:`ProbeError` when it does not import or has no such callable."""
    if ":" not in target:
        raise ProbeError(f"{target!r}: expected MODULE:FACTORY or FILE.py:FACTORY")
    mod_part, attr = target.rsplit(":", 1)
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    if mod_part.endswith(".py") or os.sep in mod_part or "/" in mod_part:
        path = os.path.abspath(mod_part)
        if not os.path.isfile(path):
            raise ProbeError(f"{mod_part}: no such file")
        folder = os.path.dirname(path)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        name = os.path.splitext(os.path.basename(path))[0]
        if name in sys.modules and getattr(sys.modules[name], "__file__", None) != path:
            name = f"_dllint_probe_target_{name}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # inspect.getsourcefile() needs it for the classes in it
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            raise _import_failed(mod_part, exc) from None
    else:
        try:
            found = importlib.util.find_spec(mod_part)
        except (ImportError, ValueError):  # a parent package that is not there
            found = None
        if found is None:
            raise ProbeError(f"no module named {mod_part!r} (the current directory and sys.path were searched)")
        try:
            module = importlib.import_module(mod_part)
        except Exception as exc:
            raise _import_failed(mod_part, exc) from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ProbeError(f"{mod_part} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ProbeError(f"{mod_part}:{attr} is not a class or a callable")
    return obj, module


def _check_plot_path(path: str) -> None:
    """Before the run: the picture's file can be written, and matplotlib is there to draw it."""
    if importlib.util.find_spec("matplotlib") is None:
        raise ProbeError("--plot needs matplotlib: pip install 'dllint[plot]'")
    full = os.path.abspath(path)
    if os.path.isdir(full):
        raise ProbeError(f"--plot {path}: is a directory")
    if not os.path.isdir(os.path.dirname(full)):
        raise ProbeError(f"--plot {path}: the folder {_shown(os.path.dirname(full))} does not exist")
    existed = os.path.exists(full)
    try:
        with open(full, "ab"):
            pass
    except OSError as exc:
        raise ProbeError(f"--plot {path}: cannot be written ({exc.strerror or exc})") from None
    if not existed:
        os.remove(full)


def _parse_thresholds(items) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise click.BadParameter(f"{item!r}: use NAME=VALUE", param_hint="--threshold")
        k, v = item.split("=", 1)
        k = k.strip().replace("-", "_")
        try:
            out[k] = int(v) if v.strip().lstrip("-").isdigit() else float(v)
        except ValueError:
            raise click.BadParameter(f"{item!r}: the value must be a number", param_hint="--threshold") from None
    return out


@click.command("probe", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("target")
@click.option("--input", "inputs", multiple=True, required=True, metavar="SHAPE[:DTYPE[:HIGH]]",
              help="Synthetic input batch, e.g. 8,3,32,32 or 8,16:long:1000 (token ids below 1000). "
                   "Repeat for models that take several inputs.")
@click.option("--target", "target_spec", default=None, metavar="classes:N|regression",
              help="Synthetic targets: class labels (cross-entropy over the class dim) or regression "
                   "(MSE against random targets; the default).")
@click.option("--steps", default=20, show_default=True, type=click.IntRange(1), help="Training steps.")
@click.option("--every", default=1, show_default=True, type=click.IntRange(1), help="Sample every N steps.")
@click.option("--lr", default=1e-2, show_default=True, type=float, help="Learning rate of the probe's optimizer.")
@click.option("--optimizer", type=click.Choice(["sgd", "adam"]), default="sgd", show_default=True)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1, mps ...")
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--plot", "plot_path", type=click.Path(), default=None,
              help="Write the gradient-flow picture (PNG) here (needs matplotlib).")
@click.option("--confirm", is_flag=True,
              help="Also lint the files that define the model and mark each static finding "
                   "confirmed (with the probe's numbers) or not observed.")
@click.option("--ignore", default="", metavar="CODES", help="Comma-separated DLP codes to skip.")
@click.option("--threshold", "thresholds", multiple=True, metavar="NAME=VALUE",
              help="Override a detector threshold (see docs/probe.md), e.g. --threshold dead_fraction=0.8.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--summary", "show_summary", is_flag=True,
              help="Do not train: one forward pass on --input and a row per layer (output shape, parameters, "
                   "receptive field and jump per spatial dimension).")
def probe_command(target, inputs, target_spec, steps, every, lr, optimizer, seed, device, output_format,
                  plot_path, confirm, ignore, thresholds, exit_zero, show_summary):
    """Run the runtime probe on the model built by TARGET (module:factory or file.py:factory).

    FACTORY is an nn.Module class or a zero-argument callable returning one. The probe trains
    the model it builds for --steps steps on synthetic batches and reports DLP findings. Exit
    codes: 0 no findings, 1 findings, 2 usage or internal error. With --summary it does not
    train: it prints the model's layers, shapes, parameters and receptive fields (exit 0).
    """
    if show_summary and (confirm or plot_path):
        raise click.UsageError("--summary does not train, so it cannot be combined with --confirm or --plot")
    specs = [parse_input_spec(s) for s in inputs]
    kind, classes = parse_target_spec(target_spec)
    ignore_codes = [c.strip().upper() for c in ignore.split(",") if c.strip()]
    th = _parse_thresholds(thresholds)
    if plot_path:
        _check_plot_path(plot_path)
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ProbeError("dllint probe needs PyTorch: pip install 'dllint[probe]'") from None
    factory, _ = load_factory(target)
    try:
        if show_summary:
            _print_summary(factory, specs, seed, device, output_format)
            return
        report, model, verdicts, files = _run(factory, specs, kind, classes, steps, every, lr, optimizer, seed,
                                              device, ignore_codes, th, confirm)
        if plot_path:
            report.plot(plot_path)
    except click.ClickException:
        raise
    except Exception as exc:  # the model cannot run on this input, or an internal error: exit 2
        where = _where(exc)
        raise ProbeError(f"{type(exc).__name__}: {exc}" + (f" (at {where})" if where else "")) from None
    if output_format == "json":
        data = report.to_dict()
        if verdicts is not None:
            data["static"] = [v.to_dict() for v in verdicts]
        click.echo(json.dumps(data, indent=2, allow_nan=False))
    else:
        click.echo(report.to_text())
        if verdicts is not None:
            from .confirm import verdicts_text

            click.echo("")
            click.echo(verdicts_text(verdicts, files))
        if plot_path:
            click.echo(f"gradient-flow plot: {plot_path}")
    # the exit status follows the findings about the probed model: the probe's, and static findings
    # in its classes or confirmed by the run, not static findings elsewhere in its files
    has = bool(report.findings) or any(v.about_probed_model for v in verdicts or ())
    sys.exit(0 if (exit_zero or not has) else 1)


def _print_summary(factory: Callable, specs, seed, device, output_format) -> None:
    import torch

    from .model_summary import summary

    torch.manual_seed(seed)
    model = _build(factory, device)
    result = summary(model, input_data=_synthetic_batch(specs, torch.Generator().manual_seed(seed), device))
    click.echo(result.to_json() if output_format == "json" else result.to_text())


def _build(factory: Callable, device):
    from torch import nn

    model = factory()
    if not isinstance(model, nn.Module):
        raise ProbeError(f"the factory returned {type(model).__name__}, not an nn.Module")
    return model.to(device)


def _synthetic_batch(specs, gen, device) -> tuple:
    """One batch of the --input shapes: randn for floats, random booleans, integers below HIGH."""
    import torch

    dtypes = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
              "bfloat16": torch.bfloat16, "int64": torch.int64, "int32": torch.int32, "bool": torch.bool}
    xs = []
    for shape, dtype, high in specs:
        dt = dtypes[dtype]
        if dt.is_floating_point:
            x = torch.randn(*shape, generator=gen).to(dt)
        elif dt == torch.bool:
            x = torch.rand(*shape, generator=gen) > 0.5
        else:
            x = torch.randint(0, high, shape, generator=gen, dtype=dt)
        xs.append(x.to(device))
    return tuple(xs)


def _run(factory: Callable, specs, kind, classes, steps, every, lr, optimizer, seed, device, ignore_codes, th,
         confirm):
    import torch
    from torch.nn import functional as F

    from .check import check

    torch.manual_seed(seed)
    model = _build(factory, device)
    gen = torch.Generator().manual_seed(seed)

    def batches(step):
        return _synthetic_batch(specs, gen, device), None

    def loss_fn(out):
        if kind == "classes":
            if out.shape[-1] == classes:
                y = torch.randint(0, classes, out.shape[:-1], generator=gen).to(out.device)
                return F.cross_entropy(out.reshape(-1, classes).float(), y.reshape(-1))
            if out.dim() >= 2 and out.shape[1] == classes:
                y = torch.randint(0, classes, (out.shape[0],) + tuple(out.shape[2:]), generator=gen).to(out.device)
                return F.cross_entropy(out.float(), y)
            raise ProbeError(f"--target classes:{classes} does not match the model output shape {tuple(out.shape)}")
        y = torch.randn(out.shape, generator=gen).to(out.device)
        return F.mse_loss(out.float(), y)

    report = check(model, None, loss_fn=loss_fn, steps=steps, every=every, lr=lr, optimizer=optimizer,
                   thresholds=th or None, copy=False, seed=seed, ignore=ignore_codes, batches=batches,
                   factory=factory)
    verdicts = files = None
    if confirm:
        from .confirm import confirm as do_confirm, lint_files, model_source_files

        files = model_source_files(model, factory)
        static = lint_files(files) if files else []
        verdicts = do_confirm(static, report, model, factory=factory)
    return report, model, verdicts, files
