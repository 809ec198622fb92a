"""The gradient-flow picture (matplotlib is the optional ``dllint[plot]`` extra).

Uses ``matplotlib.figure.Figure`` with the Agg canvas directly: no pyplot, no global backend
change in the user's process.
"""

from __future__ import annotations

import math
import textwrap
from typing import Optional

from .detectors import _pct


def plot_gradient_flow(report, path: str, title: Optional[str] = None) -> str:
    fig = gradient_flow_figure(report, title)
    fig.savefig(path)
    return path


def gradient_flow_figure(report, title: Optional[str] = None):
    """The figure ``plot_gradient_flow`` saves (a ``matplotlib.figure.Figure``, Agg canvas)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("report.plot() needs matplotlib: pip install 'dllint[plot]'") from exc

    weights = [r for r in report.layers if r.grad_mean_abs is not None and r.kind == "weight"]
    acts = [r for r in report.layers if r.dead_fraction is not None or r.saturated_fraction is not None]
    fig = Figure(figsize=(max(6.0, 0.55 * max(len(weights), len(acts), 1) + 2.5), 6.2), dpi=120)
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(2, 1, gridspec_kw={"height_ratios": [3, 1.4]})

    def pos(v):
        return v if (v is not None and math.isfinite(v) and v > 0) else float("nan")

    xs = list(range(len(weights)))
    means = [pos(r.grad_mean_abs) for r in weights]
    maxes = [pos(r.grad_max_abs) for r in weights]
    ax1.bar(xs, maxes, width=0.8, color="#9ecae1", label="max |grad|")
    ax1.bar(xs, means, width=0.5, color="#08519c", label="mean |grad|")
    ax1.set_yscale("log")
    ax1.set_xticks(xs)
    ax1.set_xticklabels([r.module or "<root>" for r in weights], rotation=45, ha="right", fontsize=8)
    ax1.set_ylabel("|gradient| (log scale)")
    ax1.grid(True, axis="y", which="major", alpha=0.3)
    ax1.legend(loc="upper left", fontsize=8)
    codes = ", ".join(f"{f.code} {f.name}" for f in report.findings[:4]) or "no findings"
    step = report.summary.get("last_check_step")
    width_in = fig.get_size_inches()[0]
    # wrapped to the figure's width (about 13 characters of 9-point text per inch): never cut at its edge
    ax1.set_title(textwrap.fill(title or f"{report.summary.get('model', 'model')}: gradient flow at step {step} "
                                         f"({codes})", width=max(30, int(13 * width_in))), fontsize=9)

    ax2.set_ylim(0, 1)
    ax2.axhline(0.5, color="#999999", lw=0.6, ls=":")
    ax2.axhline(0.7, color="#999999", lw=0.6, ls="--")
    if acts:
        ax_x = list(range(len(acts)))
        dead = [r.dead_fraction if r.dead_fraction is not None else 0.0 for r in acts]
        sat = [r.saturated_fraction if r.saturated_fraction is not None else 0.0 for r in acts]
        ax2.bar([x - 0.2 for x in ax_x], dead, width=0.4, color="#d94801", label="dead ReLU units (<= 0 for the batch)")
        ax2.bar([x + 0.2 for x in ax_x], sat, width=0.4, color="#6a51a3", label="saturated sigmoid/tanh (|pre-act| > 5)")
        for x, d, s_ in zip(ax_x, dead, sat):
            for off, v in ((-0.2, d), (0.2, s_)):
                if v >= 0.05:
                    ax2.text(x + off, min(v, 0.93) + 0.02, _pct(v), ha="center", fontsize=7)
        ax2.set_xticks(ax_x)
        ax2.set_xticklabels([r.label for r in acts],
                            rotation=45, ha="right", fontsize=8)
        ax2.legend(loc="upper right", fontsize=7)
    else:
        ax2.text(0.5, 0.5, "no ReLU / sigmoid / tanh ran", ha="center", va="center",
                 transform=ax2.transAxes, fontsize=8)
        ax2.set_xticks([])
    ax2.set_ylabel("fraction of units")
    fig.tight_layout()
    return fig
