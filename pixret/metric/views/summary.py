"""What an evaluation shows as text: the method's rows (with intervals), with ranks the error breakdown and which
half of the method costs the most, and the paper's tables with the method's row (``pixret evaluate``)."""

from __future__ import annotations

from ..core.benchmarks import CUSTOM
from ..core.errors import InputError
from ..evaluation import Evaluation
from .analysis import TOP_K, breakdowns
from .tables import breakdown_table, compare, oracle_table, results_table


def evaluation_text(evaluation: Evaluation, intervals: dict | None = None, fmt: str = "text",
                    with_ranks: bool = False, compare_paper: bool = False) -> str:
    """The method's rows (``intervals``: their 95% intervals); ``with_ranks``: the error breakdown and which half
    costs the most; ``compare_paper``: the paper's tables with the method's row. ``fmt`` "text" or "markdown"."""
    results = evaluation.results
    parts = [results_table(results, fmt, intervals)]
    if with_ranks:
        parts += [f"\nerror breakdown of the positives (retrieved = in the top {TOP_K}, junk removed):",
                  breakdown_table(breakdowns(results), fmt),
                  "\nwhich half costs the most: pixel mAP (%) with one half made perfect (the other as it is):",
                  oracle_table(results, fmt)]
    if compare_paper:
        parts += ["", paper_comparison_text(evaluation, fmt)]
    return "\n".join(parts)


def paper_benchmark(evaluation: Evaluation) -> str | None:
    """The benchmark whose paper tables the method's row goes into: the dataset's, or the one a custom build was
    made in the format of (its build report); None when there is neither."""
    return evaluation.truth.built_as if evaluation.benchmark == CUSTOM else evaluation.benchmark


def paper_comparison_text(evaluation: Evaluation, fmt: str = "text") -> str:
    """The paper's tables with the method's row (Table 1; Table 2 too when every result has ranks), for
    ``paper_benchmark``; a row that is not the paper's kind of figure is marked and not ranked."""
    benchmark = paper_benchmark(evaluation)
    if benchmark is None:
        raise InputError(f"{evaluation.truth.name} is not one of the benchmarks (by its query names) and has no build "
                         "report naming the format it was built as: the paper has no table of it")
    fmt = "markdown" if fmt == "markdown" else "text"
    results, reason = evaluation.results, evaluation.not_comparable
    tables = [compare(benchmark, results, evaluation.name, 1, not_comparable=reason).render(fmt)]
    if all(r.with_ranks for r in results.values()):
        tables.append(compare(benchmark, results, evaluation.name, 2, r1m=evaluation.distractors > 0,
                              not_comparable=reason).render(fmt))
    return "\n".join(tables)
