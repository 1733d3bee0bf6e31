"""Figures of a comparison of two methods (``uncertainty.compare``), per protocol; matplotlib without pyplot.

- ``per_query_differences``: A - B on each query, sorted, with the query names: where the gap comes from;
- ``bootstrap_differences``: the paired bootstrap distribution of A - B, with 0, the observed gap and its interval.
Both draw the headline figures (mean mIoU D / S, pixel mAP det) the comparison has.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .plots import DPI, save_png
from ..core.figures import LABELS
from ..core.uncertainty import HEADLINE, MARGIN

BETTER = {"a": "#2e7d32", "b": "#c62828"}  # bars where A is better / where B is


def _headline(comparison: dict) -> list:
    return [comparison[f] for f in HEADLINE if f in comparison]


def per_query_differences(comparison: dict, query_names, names=("A", "B"), protocol: str = "",
                          margin: float = MARGIN) -> Figure:
    """Sorted bars of A - B per query (points), one panel per headline figure; dashed lines at +-margin."""
    shown = _headline(comparison)
    count = len(next(iter(comparison.values())).query_ids) if comparison else 0
    figure = Figure(figsize=(max(6.0, 0.22 * count + 1.5), 3.0 * max(1, len(shown)) + 0.8), dpi=DPI,
                    layout="constrained")
    for ax, difference in zip(figure.subplots(max(1, len(shown)), 1, squeeze=False)[:, 0], shown):
        keep = np.flatnonzero(~np.isnan(difference.per_query))
        order = keep[np.argsort(difference.per_query[keep], kind="stable")]
        values = 100 * difference.per_query[order]
        ax.bar(range(order.size), values, color=[BETTER["a"] if v > 0 else BETTER["b"] for v in values])
        ax.set_xticks(range(order.size), [f"{q} {query_names[q]}" for q in difference.query_ids[order]],
                      rotation=90, fontsize=7)
        for level in (-100 * margin, 100 * margin):
            ax.axhline(level, color="grey", lw=0.8, ls="--")
        ax.axhline(0, color="black", lw=0.8)
        ax.set(xlim=(-0.6, order.size - 0.4), ylabel=f"{names[0]} - {names[1]} (points)",
               title=f"{protocol} {LABELS[difference.figure]}: {names[0]} - {names[1]} per query".strip()
                     + f"\nbetter by > {100 * margin:g} points: {len(difference.a_better)} queries in {names[0]}, "
                       f"{len(difference.b_better)} in {names[1]}")
    return figure


def bootstrap_differences(comparison: dict, names=("A", "B"), protocol: str = "") -> Figure:
    """Histogram of the paired bootstrap A - B of each headline figure: 0, the observed gap, its interval."""
    shown = _headline(comparison)
    figure = Figure(figsize=(4.2 * max(1, len(shown)), 3.4), dpi=DPI, layout="constrained")
    for ax, difference in zip(figure.subplots(1, max(1, len(shown)), squeeze=False)[0], shown):
        ax.hist(100 * difference.samples, bins=40, color="#90a4ae")
        ax.axvline(0, color="black", lw=0.8)
        ax.axvline(100 * difference.difference, color="#1f77b4", lw=1.5, label=f"{100 * difference.difference:+.2f}")
        for end in difference.interval:
            ax.axvline(100 * end, color="#1f77b4", lw=1, ls="--")
        low, high = (100 * v for v in difference.interval)
        ax.set(xlabel=f"{names[0]} - {names[1]} (points)", ylabel="resamples",
               title=f"{protocol} {LABELS[difference.figure]}".strip() + f"\n95%: [{low:+.2f}, {high:+.2f}], p = "
                     f"{difference.p_value:.3g}")
        ax.legend(loc="upper left", fontsize=8)
    return figure


def save_all(folder, comparisons: dict, query_names, names=("A", "B"), margin: float = MARGIN) -> list[Path]:
    """Both figures of each protocol of ``comparisons`` ({protocol: {figure: Difference}}) as PNGs in ``folder``."""
    folder = Path(folder)
    paths = []
    for protocol, comparison in comparisons.items():
        for stem, make in ((f"differences_{protocol}", lambda: per_query_differences(
                comparison, query_names, names, protocol, margin)),
                           (f"bootstrap_{protocol}", lambda: bootstrap_differences(comparison, names, protocol))):
            paths.append(save_png(make(), folder / f"{stem}.png"))
    return paths
