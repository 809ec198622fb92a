"""The gradient's trend along depth, comparing like with like (DLP001 / DLP002's ratio rule).

AUTOTRAINER's rule compares the first layer's gradient with the last's. On the architectures
trained most today that compares unlike things: in a transformer the first weight layer in
execution order is an attention query projection, whose gradient is small at init by design
(near-uniform attention passes little gradient back through Q and K), and the last is a
classifier. Here a layer is compared only with the layers that play the same role in repeated
blocks — block 0's query projection with block N's, block 0's FFN with block N's:

* a layer's **role** is its class, its module path with every index replaced by ``#``
  (``encoder.layer.3.attention.self.query`` -> ``encoder.layer.#.attention.self.query``; a
  trailing number counts as an index too: ``layer2``, ``fc3``, ``encoder_layer_7``), and the
  shapes of its trainable parameters;
* a **group** is two or more layers with the same role; a model with no repeated roles is one
  group of all its weight layers (the original first-versus-last comparison, made robust), but a
  model that has repeated roles is judged on them alone;
* each layer sits at its normalised depth (0 = the first weight layer to run, 1 = the last);
  the **trend** is the Theil–Sen slope of log10(gradient RMS) against depth over every pair of
  layers within a group (the median of the pairwise slopes: a few odd layers cannot move it),
  and the ratio early/late is that slope carried over the depth a group spans (the median span:
  block 0's query projection to block N's).

A layer whose gradient is exactly zero is blocked, not vanishing (a zero-initialised layer after
it, a residual branch gated by a zero BatchNorm gamma) and is left out of the trend.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass
from itertools import combinations
from typing import Optional

_INDEX = re.compile(r"\d+$")
_MAX_GROUP = 64  # members of one group used for the pairwise slopes (evenly spaced beyond that)


def role_pattern(path: str) -> str:
    """``encoder.layer.3.attention.self.query`` -> ``encoder.layer.#.attention.self.query``."""
    return ".".join(_INDEX.sub("#", part) for part in path.split("."))


@dataclass
class DepthTrend:
    ratio: float  # gradient RMS early / late, as the trend carries it over a group's depth
    slope: float  # log10(gradient RMS) per unit of normalised depth
    groups: list  # lists of layer names, each in depth order
    pairs: int
    early_rms: float  # median over groups of each group's earliest layer's gradient RMS
    like_with_like: bool  # False: no repeated roles, the whole depth profile is one group
    position: dict  # layer -> normalised depth

    @property
    def layers(self) -> list:
        """The grouped layers, in depth order."""
        return sorted({n for g in self.groups for n in g}, key=self.position.__getitem__)


def depth_trend(order: list, rms: dict, roles: dict) -> Optional[DepthTrend]:
    """The trend over the weight layers in ``order`` (execution order) with gradient RMS ``rms``;
    None when no two comparable layers have a non-zero finite gradient."""
    if len(order) < 2:
        return None
    position = {n: i / (len(order) - 1) for i, n in enumerate(order)}
    by_role: dict = {}
    for n in order:
        by_role.setdefault(roles.get(n, n), []).append(n)
    flowing = {n for n in order if rms.get(n) is not None and math.isfinite(rms[n]) and rms[n] > 0}
    like_with_like = any(len(g) >= 2 for g in by_role.values())
    if like_with_like:
        groups = [kept for g in by_role.values() if len(g) >= 2 and len(kept := [n for n in g if n in flowing]) >= 2]
    else:
        kept = [n for n in order if n in flowing]
        groups = [kept] if len(kept) >= 2 else []
    slopes = []
    for group in groups:
        members = _spread(group)
        points = [(position[n], math.log10(rms[n])) for n in members]
        slopes += [(y2 - y1) / (x2 - x1) for (x1, y1), (x2, y2) in combinations(points, 2) if x2 > x1]
    if not slopes:  # e.g. every repeated layer blocked
        return None
    slope = statistics.median(slopes)
    span = statistics.median(position[g[-1]] - position[g[0]] for g in groups)
    return DepthTrend(ratio=10 ** max(-300.0, min(300.0, -slope * span)), slope=slope, groups=groups,
                      pairs=len(slopes), early_rms=statistics.median(rms[g[0]] for g in groups),
                      like_with_like=like_with_like, position=position)


def _spread(group: list) -> list:
    if len(group) <= _MAX_GROUP:
        return group
    step = (len(group) - 1) / (_MAX_GROUP - 1)
    return [group[round(i * step)] for i in range(_MAX_GROUP)]
