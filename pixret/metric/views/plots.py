"""Figures of an evaluation, from ``{protocol: results}`` (matplotlib, no pyplot: thread-safe, no display).

- ``map_vs_threshold``: pixel mAP at each IoU threshold 0.50 ... 0.95, detection and
  segmentation, per protocol: the curve whose mean is mAP@50:5:95;
- ``iou_histograms``: the per-pair IoU (D and S) of the positives, per protocol;
- ``per_query_bars``: mean IoU per query, sorted, with query names: the weak queries stand out;
- ``precision_recall``: image-level precision / recall of the worst queries;
- ``breakdown_bars``: the error breakdown (``analysis.breakdown``) as stacked bars.
Each returns a ``matplotlib.figure.Figure``; ``save_all`` writes them as PNGs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from . import PNG_LEVEL, analysis, write_picture
from ..core.figures import LOCALISED

COLOURS = {"det": "#1f77b4", "seg": "#d62728"}
BREAKDOWN_COLOURS = ("#9e9e9e", "#e57373", "#ffb74d", "#66bb6a")
DPI = 100
SAVE = {"pil_kwargs": {"compress_level": PNG_LEVEL}}  # savefig's arguments


def save_png(figure: Figure, path) -> Path:
    """``figure`` as the PNG file ``path`` (``write_picture``: a full disk is an error, never a cut file)."""
    return write_picture(path, lambda out: figure.savefig(out, format="png", **SAVE))


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def map_vs_threshold(results: dict, name: str = "") -> Figure:
    figure = _figure(4.2 * len(results), 3.4)
    axes = figure.subplots(1, len(results), squeeze=False)[0]
    for ax, (protocol, result) in zip(axes, results.items()):
        curves = result.get("per_threshold")
        if curves is None:
            ax.text(0.5, 0.5, "no ranks: no pixel mAP", ha="center", transform=ax.transAxes)
            continue
        for iou in ("det", "seg"):
            values = curves.get(f"map_{iou}")
            if values is not None:
                ax.plot(curves["threshold"], 100 * np.asarray(values), "o-", color=COLOURS[iou],
                        label=f"{iou}: mean {100 * np.mean(values):.1f}")
        ax.set(title=f"{name} {protocol}".strip(), xlabel="IoU threshold t (a positive counts if IoU > t)",
               ylabel="pixel mAP (%)", ylim=(0, 102), xticks=curves["threshold"][::2])
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left")
    return figure


def iou_histograms(results: dict, name: str = "") -> Figure:
    figure = _figure(4.2 * len(results), 3.4)
    axes = figure.subplots(1, len(results), squeeze=False)[0]
    bins = np.linspace(0, 1, 21)
    for ax, (protocol, result) in zip(axes, results.items()):
        pairs = result["per_pair"]
        for iou in ("det", "seg"):
            values = pairs.get(f"iou_{iou}")
            if values is not None:
                ax.hist(values, bins=bins, color=COLOURS[iou], alpha=0.55, label=f"{iou} ({len(values)} pairs)")
        ax.set(title=f"{name} {protocol}: IoU of the positives".strip(), xlabel="IoU", ylabel="pairs")
        ax.legend(loc="upper center")
    return figure


def per_query_bars(result: dict, query_names, protocol: str = "", iou: str = "seg") -> Figure:
    """Mean IoU per query, lowest first; ``query_names`` by query id."""
    per_query = result["per_query"]
    values = per_query.get(f"miou_{iou}") or per_query["miou_det"]
    iou = iou if per_query.get(f"miou_{iou}") else "det"
    shown = [(v, q) for v, q in zip(values, per_query["query_id"]) if v is not None]
    shown.sort()
    figure = _figure(max(6.0, 0.22 * len(shown) + 1.5), 4.2)
    ax = figure.subplots()
    ax.bar(range(len(shown)), [100 * v for v, _ in shown], color=COLOURS[iou])
    ax.set_xticks(range(len(shown)), [f"{q} {query_names[q]}" for _, q in shown], rotation=90, fontsize=7)
    ax.set(ylabel=f"mean IoU, {iou} (%)", ylim=(0, 100), xlim=(-0.6, len(shown) - 0.4),
           title=f"{protocol}: mean IoU per query, lowest first".strip(": "))
    return figure


def precision_recall(result: dict, query_names, protocol: str = "", count: int = 4) -> Figure:
    """Image-level precision / recall of the ``count`` queries with the lowest image AP."""
    pairs = result["per_pair"]
    positions, query_ids = np.asarray(pairs["position"]), np.asarray(pairs["query_id"])
    figure = _figure(5.2, 3.6)
    ax = figure.subplots()
    for k in analysis.worst_queries(result, count):
        q = result["per_query"]["query_id"][k]
        mine = positions[query_ids == q]
        precision, recall = analysis.precision_recall(mine, mine.size)
        ax.plot(np.r_[0, recall], np.r_[1 if precision.size else 0, precision], drawstyle="steps-post",
                label=f"{q} {query_names[q]} (AP {100 * result['per_query']['image_ap'][k]:.1f})")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02),
           title=f"{protocol}: worst queries by image AP".strip(": "))
    ax.legend(fontsize=7, loc="upper right")
    return figure


def breakdown_bars(results: dict, k: int = analysis.TOP_K) -> tuple[Figure, dict]:
    """Stacked bars of the error breakdown per protocol and IoU kind; also returns the counts."""
    counts = analysis.breakdowns(results, k)
    figure = _figure(max(4.5, 1.3 * len(counts) + 2.5), 3.8)
    ax = figure.subplots()
    bottom = np.zeros(len(counts))
    for category, colour in zip(analysis.CATEGORIES, BREAKDOWN_COLOURS):
        heights = np.asarray([c[category] for c in counts.values()], float)
        ax.bar(list(counts), heights, bottom=bottom, color=colour, label=category)
        bottom += heights
    ax.set(ylabel="positive pairs", title=f"error breakdown (retrieved = in the top {k})")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))
    return figure, counts


def query_figure(result: dict, query_id: int, query_name: str = "") -> Figure:
    """One query: its image-level precision / recall, and the IoU of each positive against its position."""
    pairs = result["per_pair"]
    mine = np.asarray(pairs["query_id"]) == query_id
    positions = np.asarray(pairs["position"])[mine]
    figure = _figure(8.4, 3.2)
    left, right = figure.subplots(1, 2)
    precision, recall = analysis.precision_recall(positions, positions.size)
    left.plot(np.r_[0, recall], np.r_[1 if precision.size else 0, precision], drawstyle="steps-post")
    left.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02),
             title=f"query {query_id} {query_name}: {positions.size} positives".strip())
    ranked = positions >= 0
    for iou in ("det", "seg"):
        values = pairs.get(f"iou_{iou}")
        if values is not None:
            right.scatter(positions[ranked], np.asarray(values)[mine][ranked], s=14, color=COLOURS[iou], label=iou)
    right.axhline(LOCALISED, color="grey", lw=0.8, ls="--")
    right.set(xlabel="position (junk removed)", ylabel="IoU", ylim=(-0.02, 1.02),
              title=f"{int((~ranked).sum())} positives not ranked" if (~ranked).any() else "IoU by position")
    if right.get_legend_handles_labels()[0]:
        right.legend(fontsize=8)
    return figure


def figures(results: dict, query_names, name: str = "", k: int = analysis.TOP_K) -> list[tuple[str, str, object]]:
    """The figures of an evaluation, the one list (``pixret evaluate --plots``, the Space, the demo report):
    (file stem, caption, a function drawing it), in the order they are shown."""
    with_ranks = all("position" in r["per_pair"] for r in results.values())
    out = []
    if with_ranks:
        out.append(("map_vs_threshold", "pixel mAP at each IoU threshold", lambda: map_vs_threshold(results, name)))
    out.append(("iou_histograms", "IoU of the positives", lambda: iou_histograms(results, name)))
    for protocol, result in results.items():
        out.append((f"per_query_{protocol}", f"{protocol}: mean IoU per query",
                    lambda result=result, protocol=protocol: per_query_bars(result, query_names, protocol)))
        if with_ranks:
            out.append((f"precision_recall_{protocol}", f"{protocol}: worst queries by image AP",
                        lambda result=result, protocol=protocol: precision_recall(result, query_names, protocol)))
    if with_ranks:
        out.append(("breakdown", f"error breakdown (retrieved = in the top {k})", lambda: breakdown_bars(results, k)[0]))
    return out


def save_all(folder, results: dict, query_names, name: str = "", k: int = analysis.TOP_K,
             only=None) -> list[Path]:
    """Every figure of ``results`` (or those whose file stem is in ``only``) as PNGs in ``folder``."""
    folder = Path(folder)
    paths = []
    for stem, _, make in figures(results, query_names, name, k):
        if only is None or stem in only:
            paths.append(save_png(make(), folder / f"{stem}.png"))
    return paths
