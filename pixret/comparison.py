"""Two methods on the same queries, with how sure each figure and each difference is: what ``pixret compare``
does. Both are scored as ``pixret.evaluation.evaluate_files`` scores them; per protocol each figure of A and B
gets its 95% bootstrap interval over the queries, A - B its paired bootstrap interval and the p-value of a paired
sign-flip test, and the queries on which one method beats the other by more than a margin are listed
(``pixret.metric.core.uncertainty``). With 70 queries a gap of a point or two is often noise.

    from pixret.comparison import compare_files
    comparison, written = compare_files("pixret/proxford", ["a.json", "b.json"], ["a.npy", "b.npy"])
    print(methods_comparison_text(comparison))         # pixret.metric.views.comparison

A second dataset scores B on another copy of the same benchmark (a local build and the Hub's): the two must hold
the same ground truth (``BuiltDataset.ground_truth_sha256``), not only the same queries.
"""

from __future__ import annotations

import filecmp
import warnings
from pathlib import Path

from pixret import outputs
from pixret.dataset import looks_local, open_dataset
from pixret.evaluation import evaluate_files
from pixret.metric.core import uncertainty
from pixret.metric.core.benchmarks import BENCHMARKS, REPORTED
from pixret.metric.core.errors import InputError
from pixret.metric.evaluation import Evaluation
from pixret.metric.files import authors
from pixret.metric.files.results import check_result_files
from pixret.metric.views.comparison import MethodsComparison, missing_figures

PLOTS = "compare --plots"  # the command named in a plots folder's marker


def compare_files(datasets, predictions, ranks=None, *, names=None, ranks_layout: str | None = None,
                  distractors: int = 0, protocols=REPORTED, official: bool = True, seed: int = 0,
                  resamples: int = uncertainty.RESAMPLES, margin: float = uncertainty.MARGIN, plots=None,
                  overwrite: bool = False) -> tuple[MethodsComparison, list[Path]]:
    """Score A's and B's result files and compare them figure by figure; with ``plots``, draw the comparison
    there (a folder). Returns the comparison and the files written.

    ``datasets``: one dataset (a folder or a Hub id), or two (A's, then B's copy of the same benchmark);
    ``predictions``: A's and B's files; ``ranks``: A's and B's, or None; ``names``: the methods' (default: told
    apart from the file names); ``margin``: list the queries on which one is better by more than this (a
    fraction); the rest as ``evaluate_files`` and ``uncertainty.compare``.
    """
    datasets = [datasets] if isinstance(datasets, (str, Path)) else list(datasets)
    predictions = [Path(p) for p in predictions]
    ranks = [None, None] if ranks is None else [Path(r) for r in ranks]
    check_result_files(predictions=predictions, ranks=ranks)  # before a dataset is opened: fail fast
    inputs = [*predictions, *ranks, *(d for d in datasets if looks_local(d))]
    if plots is not None:
        outputs.check_folder(plots, PLOTS, overwrite, "plots", inputs)
    names = list(names) if names else method_names(*predictions)
    specs = datasets * 2 if len(datasets) == 1 else datasets
    if _same_file(*predictions) and _same_file(*ranks):
        warnings.warn(f"A and B are the same results ({predictions[0]} and {predictions[1]}"
                      + (f", {ranks[0]} and {ranks[1]}" if ranks[0] else "") + " hold the same bytes): every "
                      "difference is 0", UserWarning, stacklevel=2)
    if specs[0] != specs[1]:
        check_same_benchmark(specs, protocols)
    a, b = (_score(*method, ranks_layout=ranks_layout, distractors=distractors, protocols=protocols,
                   official=official) for method in zip(names, specs, predictions, ranks))
    comparison = MethodsComparison(
        names, [str(p) for p in predictions], a.truth.query_names, seed, resamples, margin,
        {p: uncertainty.compare(a.results[p], b.results[p], a.truth.benchmark, official, seed, resamples,
                                margin=margin) for p in protocols},
        {p: missing_figures(a.results[p], b.results[p], names) for p in protocols})
    written = []
    if plots is not None:
        from pixret.metric.views import compare_plots  # matplotlib, only when drawing

        with outputs.staged_folder(plots, overwrite, command=PLOTS, inputs=inputs, name="plots") as tmp:
            drawn = compare_plots.save_all(tmp, comparison.figures, comparison.query_names, names, margin)
        written = [Path(plots) / path.name for path in drawn]
    return comparison, written


def method_names(a: Path, b: Path) -> list[str]:
    """Two names that tell the methods apart, from their predictions files: the method's name, the folder, or
    both; "A" and "B" when nothing does."""
    for names in ([authors.method_name(a), authors.method_name(b)], [a.parent.name, b.parent.name],
                  [f"{a.parent.name}/{a.stem}", f"{b.parent.name}/{b.stem}"]):
        if names[0] != names[1] and all(names):
            return names
    return ["A", "B"]


def _same_file(a: Path | None, b: Path | None) -> bool:
    return a is None and b is None or (a is not None and b is not None and filecmp.cmp(a, b, shallow=False))


def check_same_benchmark(specs: list[str], protocols) -> None:
    """Two datasets must be copies of the same data: the same queries (by name) and index size, and the same
    ground truth (its digest: the pairs of the compared protocols, the index images' sizes)."""
    a, b = (open_dataset(spec) for spec in specs)
    if a.benchmark != b.benchmark or a.query_names != b.query_names or len(a.index_sizes) != len(b.index_sizes):
        describe = [f"{d.spec} is " + (BENCHMARKS[d.benchmark].pretty_name if d.benchmark in BENCHMARKS else
                                       f"custom data ({len(d.query_names)} queries, {len(d.index_sizes)} index "
                                       "images)") for d in (a, b)]
        raise InputError(f"the two datasets are not the same benchmark: {describe[0]}, {describe[1]} (by their "
                         "query names and index): a comparison needs both methods scored on the same queries")
    digests = [d.ground_truth_sha256(protocols) for d in (a, b)]
    if digests[0] != digests[1]:
        raise InputError(f"the two datasets have the same queries but other ground truth: {a.spec} and {b.spec} "
                         f"differ in the masks, lists or image sizes of {' / '.join(protocols)} (SHA-256 "
                         f"{digests[0][:12]} and {digests[1][:12]}): a difference would be the data's, not the "
                         "methods'; score both on one copy")


def _score(name: str, spec: str, predictions: Path, ranks: Path | None, **options) -> Evaluation:
    """``evaluate_files`` of one method; its warnings say which method they are about."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scored = evaluate_files(spec, predictions, ranks, **options)
    for warning in caught:
        warnings.warn(f"{name}: {warning.message}", warning.category, stacklevel=3)
    return scored
