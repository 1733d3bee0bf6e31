"""A method's result files scored on a built dataset, with everything ``pixret evaluate`` shows and writes: the
tables (or the JSON document), the paper's tables with the method's row, the leaderboard files, the plots and the
per-query CSV. The command parses its flags, calls ``scorecard`` and prints what it returns.

    from pixret.scorecard import scorecard
    card = scorecard("pixret/proxford", "preds.json", "ranks.npy", plots="plots", per_query="per_query.csv")
    print(card.text)          # the paper-style rows, the error breakdown, ...; card.document: the figures as JSON
    card.written              # the files it wrote

Every output is checked before the dataset is opened (to fail fast), and written whole or not at all: the
leaderboard files last, all at once, once every other output is in place.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from pixret import hub_eval, outputs
from pixret.dataset import BuiltDataset, open_dataset
from pixret.evaluation import evaluate_files
from pixret.metric.core.benchmarks import REPORTED
from pixret.metric.core.errors import InputError
from pixret.metric.core.uncertainty import RESAMPLES
from pixret.metric.evaluation import Evaluation, check_predictions_format
from pixret.metric.files.results import check_result_files, read_ranks
from pixret.metric.views.summary import evaluation_text, paper_benchmark
from pixret.metric.views.tables import per_query_csv
from pixret.progress import bar

PLOTS = "evaluate --plots"  # the command named in a plots folder's marker
FORMATS = ("text", "markdown", "json")


@dataclass
class Scorecard:
    """What ``scorecard`` found and did."""

    evaluation: Evaluation
    intervals: dict | None  # {protocol: {figure: (low, high)}}, None with resamples=0
    warnings: list[str]  # what the evaluation warned about (legal input that looks like a mistake)
    document: dict  # the figures as JSON-ready data (``Evaluation.document``), with the warnings
    text: str  # the tables as fmt asked ("text" or "markdown"; "" for "json")
    written: list[Path] = field(default_factory=list)  # the files written, leaderboard files last


@dataclass
class Outputs:
    """The files a scoring writes, each None when not asked for: the per-query CSV, the plots folder and the
    folder of the leaderboard files (``.eval_results/``); ``inputs``: what the scoring reads (no output may
    replace it or sit inside it)."""

    per_query: Path | None = None
    plots: Path | None = None
    eval_results: Path | None = None
    overwrite: bool = False
    inputs: list = field(default_factory=list)

    def check(self) -> None:
        """Each output may be written where it was asked to, apart from the inputs and from one another (checked
        again as each is written)."""
        if self.per_query:
            outputs.check_file(self.per_query, self.overwrite, "per_query", self.inputs)
        if self.plots:
            outputs.check_folder(self.plots, PLOTS, self.overwrite, "plots", self.inputs)
        named = [(name, path) for name, path in (("per_query", self.per_query), ("plots", self.plots),
                                                 ("eval_results", self.eval_results)) if path is not None]
        for k, (name, path) in enumerate(named):  # no output may replace, hold or sit in another
            outputs.check_apart(path, [other for _, other in named[k + 1:]], name, "another output")

    def write(self, evaluation: Evaluation, leaderboard: dict[Path, str]) -> list[Path]:
        """Write the outputs: the leaderboard files whole under temporary names first (a full disk stops here,
        leaving none); the slow part (drawing) into a temporary folder; the per-query CSV; the folder put in place;
        the leaderboard files last, all at once: none is published unless every output was written."""
        written = []
        with hub_eval.stage_files(leaderboard) as staged:
            with contextlib.ExitStack() as stack:
                if self.plots:
                    from pixret.metric.views import plots  # matplotlib, only when drawing

                    tmp = stack.enter_context(outputs.staged_folder(self.plots, self.overwrite, command=PLOTS,
                                                                    inputs=self.inputs, name="plots"))
                    drawn = plots.save_all(tmp, evaluation.results, evaluation.truth.query_names, evaluation.name)
                    written += [Path(self.plots) / path.name for path in drawn]
                if self.per_query:
                    with outputs.signals_held():
                        written.append(outputs.write_file(self.per_query, per_query_csv(evaluation.results),
                                                          self.overwrite, "per_query", self.inputs))
            with outputs.signals_held():  # a stop now would leave some leaderboard files in place and others not
                written += staged.commit()
        return written


def scorecard(dataset, predictions, ranks=None, *, predictions_format: str | None = None,
              points_order: str | None = None, ranks_layout: str | None = None, distractors: int = 0,
              protocols=REPORTED, queries=None, benchmark: str | None = None, trust_ids: bool = False,
              official: bool = True, name: str | None = None, fmt: str = "text", compare_paper: bool = False,
              resamples: int = RESAMPLES, seed: int = 0, per_query=None, plots=None, eval_results=None,
              source_url: str | None = None, source_name: str | None = None, overwrite: bool = False,
              progress=bar) -> Scorecard:
    """Score result files on a built dataset (``evaluate_files``) and make what ``pixret evaluate`` shows and writes.

    ``dataset``: a built folder or a Hub id; ``predictions`` / ``ranks``: paths; the scoring options as
    ``evaluate_files``. ``fmt`` "text", "markdown" or "json": what ``text`` holds ("" for JSON: ``document``);
    ``compare_paper``: the paper's tables with the method's row too. ``resamples`` / ``seed``: the bootstrap of the
    95% intervals (0 resamples: none). Outputs, each written only when given: ``per_query`` (a CSV file),
    ``plots`` (a folder of PNGs), ``eval_results`` (a folder whose ``.eval_results/`` gets the leaderboard files,
    with ``source_url`` / ``source_name`` as their source); ``overwrite`` replaces what an earlier run wrote.
    """
    if fmt not in FORMATS:
        raise InputError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    if compare_paper and fmt == "json":
        raise InputError("compare_paper=True prints tables: use fmt='text' or fmt='markdown' with it")
    predictions, ranks = Path(predictions), _path(ranks)
    _check_ranks_read_twice(ranks, distractors, eval_results)
    if eval_results is not None:
        hub_eval.check_source(source_url, source_name)
    data = open_dataset(dataset)  # (its data is read when the scoring needs it: what follows fails fast)
    wanted = Outputs(_path(per_query), _path(plots), _path(eval_results), overwrite,
                     inputs=[predictions, ranks, data.spec if data.local else None])
    wanted.check()
    check_result_files(predictions=predictions, ranks=ranks)
    check_predictions_format(predictions, predictions_format, points_order)
    caught = []  # the evaluation's warnings: raised again as they were, and kept for the document
    try:
        with warnings.catch_warnings(record=True) as caught:
            evaluation = evaluate_files(data, predictions, ranks, protocols=protocols, benchmark=benchmark,
                                        ranks_layout=ranks_layout, distractors=distractors, queries=queries,
                                        official=official, name=name, predictions_format=predictions_format,
                                        points_order=points_order, trust_ids=trust_ids, progress=progress)
    finally:
        for warning in caught:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    said = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    if compare_paper and paper_benchmark(evaluation) is None:
        raise InputError(f"compare_paper=True: {evaluation.truth.name} is not one of the benchmarks (by its query "
                         "names) and has no build report naming the format it was built as")
    # the leaderboard files checked before anything is shown: a refusal (a subset, the unofficial variant, custom
    # data) shows nothing
    leaderboard = _leaderboard_files(evaluation, data, ranks, ranks_layout, eval_results, overwrite, source_url,
                                     source_name) if eval_results is not None else {}
    intervals = evaluation.intervals(seed, resamples) if resamples else None
    text = "" if fmt == "json" else evaluation_text(evaluation, intervals, fmt, ranks is not None, compare_paper)
    card = Scorecard(evaluation, intervals, said, evaluation.document(intervals, said), text)
    card.written = wanted.write(evaluation, leaderboard)
    return card


def _check_ranks_read_twice(ranks: Path | None, distractors: int, eval_results) -> None:
    """R1M leaderboard files check that the ranks hold distractors, reading them again: not from a pipe."""
    if eval_results is not None and distractors and ranks is not None and ranks.exists() and not ranks.is_file():
        raise InputError(f"eval_results=... with distractors=... checks that the ranks hold distractors, reading them "
                         f"again: {ranks} is not a regular file (a pipe?); save the ranks to a file")


def _leaderboard_files(evaluation: Evaluation, data: BuiltDataset, ranks: Path | None, ranks_layout: str | None,
                       folder, overwrite: bool, source_url: str | None, source_name: str | None) -> dict[Path, str]:
    """The leaderboard files of an evaluation, checked (``hub_eval.eval_results_files``), not written."""
    rank_array = None
    if evaluation.distractors and ranks is not None:  # memory-mapped: read again at no cost
        rank_array = read_ranks(ranks, len(data.query_names), ranks_layout)
    return hub_eval.eval_results_files(folder, evaluation.results, data, evaluation.distractors, evaluation.official,
                                       overwrite, ranks=rank_array, source_url=source_url, source_name=source_name)


def _path(path) -> Path | None:
    return None if path is None else Path(path)
