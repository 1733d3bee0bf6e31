"""Two methods on the same queries, with how sure each figure and each difference is, as text and JSON
(``MethodsComparison``: ``methods_comparison_text``, ``methods_comparison_json``). A method against the paper's
tables: ``summary.paper_comparison_text``."""

from __future__ import annotations

from dataclasses import dataclass

from ..core import uncertainty
from ..core.figures import FIGURE_KEYS, LABELS
from .tables import _render

SHOWN_FLIPS = 8  # queries listed per side in text and Markdown (JSON has them all)


@dataclass
class MethodsComparison:
    """Two methods scored on the same queries and compared figure by figure (``uncertainty.compare``)."""

    names: list[str]  # A's and B's
    predictions: list[str]  # their predictions files, as given
    query_names: list[str]
    seed: int
    resamples: int
    margin: float  # a query on which one method is better by more than this (a fraction) is listed
    figures: dict[str, dict]  # {protocol: {figure: uncertainty.Difference}}
    missing: dict[str, dict[str, str]]  # {protocol: {figure: the name of the method that lacks it}}


def missing_figures(result_a: dict, result_b: dict, names) -> dict[str, str]:
    """{figure: who lacks it} for figures only one of the two results has (a box-only method: no mIoU S)."""
    out = {}
    for key in FIGURE_KEYS:
        has = [result_a.get(key) is not None, result_b.get(key) is not None]
        if has[0] != has[1]:
            out[key] = names[has.index(False)]
    return out


def _percent(value: float, sign: str = "") -> str:
    return f"{100 * value:{sign}.2f}"


def _interval(interval, sign: str = "") -> str:
    return f"[{_percent(interval[0], sign)}, {_percent(interval[1], sign)}]"


def _flips(queries, query_names) -> str:
    """Queries as "id name (A - B in points)"; the first SHOWN_FLIPS of them."""
    shown = ", ".join(f"{q} {query_names[q]} ({100 * d:+.1f})" for q, d in queries[:SHOWN_FLIPS])
    more = f" and {len(queries) - SHOWN_FLIPS} more" if len(queries) > SHOWN_FLIPS else ""
    return (shown + more) or "none"


def methods_comparison_text(comparison: MethodsComparison, fmt: str = "text") -> str:
    """Per protocol: the figures of A and B and A - B, each with its interval and p-value, and the flips."""
    markdown = fmt == "markdown"
    names, query_names = comparison.names, comparison.query_names
    first = next(iter(comparison.figures.values()))
    count = len(next(iter(first.values())).query_ids) if first else 0
    lines = [f"A = {names[0]} ({comparison.predictions[0]}), B = {names[1]} ({comparison.predictions[1]}); {count} "
             f"queries, {comparison.resamples:,} paired bootstrap resamples of the queries (seed {comparison.seed}): "
             "[95% interval], in %; p: paired sign-flip test of no difference (exact: every swap counted)."]
    for protocol, figures in comparison.figures.items():
        lines += ["", f"### {protocol}" if markdown else protocol]
        header = ["figure", names[0], names[1], f"{names[0]} - {names[1]}", "p"]
        rows = [[LABELS[f], f"{_percent(d.a)} {_interval(d.a_interval)}", f"{_percent(d.b)} {_interval(d.b_interval)}",
                 f"{_percent(d.difference, '+')} {_interval(d.interval, '+')}",
                 f"{d.p_value:.3g}" + (" exact" if d.exact else "")] for f, d in figures.items()]
        lines += [_render(header, rows, "markdown" if markdown else "text")] + ([""] if markdown else [])
        if comparison.missing[protocol]:
            lines.append("not compared: " + "; ".join(f"{LABELS[f]} ({who} has none)"
                                                     for f, who in comparison.missing[protocol].items()))
        for figure in (f for f in uncertainty.HEADLINE if f in figures):
            d = figures[figure]
            bullet = "- " if markdown else ""
            lines.append(f"{bullet}{LABELS[figure]}, queries better by more than {100 * comparison.margin:g} points "
                         f"(A - B): in {names[0]}: {_flips(d.a_better, query_names)}; in {names[1]}: "
                         f"{_flips(d.b_better, query_names)}")
    return "\n".join(lines)


def methods_comparison_json(comparison: MethodsComparison) -> dict:
    """The comparison as JSON-ready data (figures as fractions, as the metric gives them)."""
    def flips(queries):
        return [{"query_id": q, "query_name": comparison.query_names[q], "difference": d} for q, d in queries]

    return {"names": comparison.names, "predictions": comparison.predictions, "seed": comparison.seed,
            "resamples": comparison.resamples, "level": uncertainty.LEVEL, "margin": comparison.margin,
            "protocols": {p: {"figures": {f: {"a": d.a, "a_interval": d.a_interval, "b": d.b,
                                              "b_interval": d.b_interval, "difference": d.difference,
                                              "interval": d.interval, "p_value": d.p_value, "p_exact": d.exact,
                                              "a_better": flips(d.a_better), "b_better": flips(d.b_better)}
                                          for f, d in figures.items()},
                              "not_compared": comparison.missing[p]} for p, figures in comparison.figures.items()}}
