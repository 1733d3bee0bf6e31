"""Scoring a method's results on a built dataset, every protocol: the one way result files are scored (by
``pixret evaluate``, ``pixret compare``, the Space and the demo, through ``pixret.evaluation``).

    truth = GroundTruth(name, query_names, index_sizes, load_split)     # pixret.dataset makes one
    evaluation = score_files(truth, "preds.json", "ranks.npy")         # or score_method(truth, by_pair, ranks)
    evaluation.results["medium"]["map_det"], evaluation.intervals(), evaluation.document()
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .core import uncertainty
from .core.benchmarks import CUSTOM, PROTOCOLS, REPORTED, metric_options
from .core.errors import InputError
from .core.figures import Result
from .core.predictions import Where, as_id, one_based, shifted_ids
from .core.scoring import evaluate_pixel_retrieval
from .files import authors
from .files.results import ResultsError, align, read_predictions, read_ranks

UNIT = "fraction"  # figures in JSON and from compute are in [0, 1]; tables and leaderboard files print percent


class ShiftedIds(ResultsError):
    """Most predictions miss the evaluated splits and id - 1 would place them: the table would be nonsense.
    ``finding`` says what was found (the message adds the remedy, in the library's terms); ``source``: the file,
    when they came from one."""

    def __init__(self, finding: str, source: str | None = None):
        super().__init__(("" if source is None else f"{source}: ") + f"{finding}: the ids look 1-based (they are "
                         "0-based: revisitop's positions), and figures of them would be nonsense; subtract 1, or pass "
                         "trust_ids=True if these ids are right")
        self.finding = finding
        self.source = source

    def __reduce__(self):
        return type(self), (self.finding, self.source)



@dataclass
class GroundTruth:
    """A built dataset as an evaluation needs it (``pixret.dataset`` and the Space make one)."""

    name: str  # how messages and tables name it: a folder or a Hub id
    query_names: list[str]
    index_sizes: list[tuple[int, int]]  # (height, width) by index id
    load_split: object  # protocol -> the pairs split (a datasets.Dataset), loaded on demand
    built_as: str | None = None  # the benchmark a custom build was made in the format of (its build report)

    @property
    def options(self) -> dict:
        """The metric's benchmark for these queries (identity by facts), with the sizes "custom" needs."""
        return metric_options(self.query_names, len(self.index_sizes))

    @property
    def benchmark(self) -> str:
        return self.options["benchmark"]


@dataclass
class Evaluation:
    """A method's figures on a built dataset, every protocol, and how they were obtained."""

    name: str
    truth: GroundTruth
    results: dict[str, Result]  # protocol -> figures
    official: bool = True
    distractors: int = 0
    queries: list[int] | None = None  # a subset, in the order asked
    notes: list[str] = field(default_factory=list)  # worth knowing, not a problem (predictions not scored, ...)

    @property
    def benchmark(self) -> str:
        return self.truth.benchmark

    @property
    def not_comparable(self) -> str | None:
        """Why these figures are not the paper's kind (None: they are)."""
        if self.benchmark == CUSTOM:
            return "on synthetic or custom data, not the benchmark"
        if self.queries is not None:
            return f"a subset of {len(self.queries)} of the {len(self.truth.query_names)} queries"
        if not self.official:
            return "the unofficial variant (official=False)"
        return None

    def intervals(self, seed: int = 0, resamples: int = uncertainty.RESAMPLES) -> dict:
        """{protocol: {figure: (low, high)}}: 95% bootstrap intervals over the queries (``uncertainty.intervals``)."""
        return {p: uncertainty.intervals(r, self.benchmark, self.official, seed, resamples)
                for p, r in self.results.items()}

    def figures(self, intervals: dict | None = None) -> dict:
        """{protocol: {figure: value}} (fractions in [0, 1]; + oracles, subset, skipped pairs, kinds, and ``intervals``
        when given: {figure: [low, high]}): the figures of ``document``."""
        return {p: {**r.figures(), **{k: r[k] for k in ("oracles", "subset", "skipped_pairs", "kinds") if k in r},
                    **({"intervals": {k: list(v) for k, v in intervals[p].items()}} if intervals else {})}
                for p, r in self.results.items()}

    def document(self, intervals: dict | None = None, warnings=()) -> dict:
        """The JSON ``pixret evaluate --format json`` prints and the Space's API returns: ``{"unit": "fraction",
        protocol: figures (``figures``), ..., "warnings": [...], "notes": [...]}``; ``warnings``: the messages of
        what the evaluation warned about (legal input that looks like a mistake), as the command printed them."""
        return {"unit": UNIT, **self.figures(intervals), "warnings": [str(w) for w in warnings],
                "notes": list(self.notes)}


def score_files(truth: GroundTruth, predictions, ranks=None, *, protocols=REPORTED, ranks_layout=None,
                   distractors: int = 0, queries=None, official: bool = True, name: str | None = None,
                   sources: dict | None = None, predictions_format: str | None = None,
                   points_order: str | None = None, progress=None, trust_ids: bool = False) -> Evaluation:
    """Score a method's result files (predictions, optional ranks) on every protocol of ``truth``.

    Predictions in pixret's format (JSON / Parquet) or the authors' matching result (``.npy``, see ``authors``;
    ``predictions_format`` says which when the suffix does not, ``points_order`` "xy" or "rowcol").
    ``sources``: how messages name the files ({"predictions": ..., "ranks": ...}; default their paths).
    ``trust_ids``: score predictions whose ids look 1-based (``score_method``) rather than refuse them.
    """
    sources = sources or {}
    if check_predictions_format(predictions, predictions_format, points_order) == "authors":
        scored = {(q, i) for split in _splits(truth, protocols, queries).values()
                  for q, i, positive in zip(split["query_id"], split["index_id"], split["positive"]) if positive}
        by_pair = authors.read_matching_result(predictions, len(truth.query_names), truth.index_sizes,
                                               points_order or "xy", scored, truth.benchmark, progress)
    else:
        by_pair = read_predictions(predictions, len(truth.query_names), truth.index_sizes, sources.get("predictions"))
    rank_array = None if ranks is None else read_ranks(ranks, len(truth.query_names), ranks_layout,
                                                       sources.get("ranks"))
    try:
        return score_method(truth, by_pair, rank_array, protocols=protocols, distractors=distractors,
                            queries=queries, official=official, name=name or authors.method_name(predictions),
                            trust_ids=trust_ids, source=sources.get("predictions") or str(predictions))
    except ShiftedIds as err:  # the message names the file
        raise ShiftedIds(err.finding, sources.get("predictions") or str(predictions)) from None


def check_predictions_format(predictions, predictions_format: str | None = None, points_order: str | None = None) -> str:
    """The format of a predictions file ("pixret" or "authors": ``authors.predictions_format``), after checking that
    a points order is given only with the authors' format."""
    found = authors.predictions_format(predictions, predictions_format)
    if points_order is not None and found != "authors":
        raise InputError("points_order=... describes the authors' matching result (.npy): pixret predictions have "
                         "masks")
    return found


def _splits(truth: GroundTruth, protocols, queries=None) -> dict:
    """{protocol: pairs split}, only the rows of ``queries`` when given (the metric then averages over them)."""
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        raise InputError(f"unknown protocol {unknown[0]!r}; expected one of {PROTOCOLS}")
    splits = {protocol: truth.load_split(protocol) for protocol in protocols}
    if queries is None:
        return splits
    outside = [q for q in queries if not q < len(truth.query_names)]
    if outside:
        raise InputError(f"queries must be query ids 0..{len(truth.query_names) - 1}, got {outside}")
    return {p: split.select(np.flatnonzero(np.isin(split["query_id"], queries))) for p, split in splits.items()}


def score_method(truth: GroundTruth, by_pair: dict, ranks=None, *, protocols=REPORTED,
                    distractors: int = 0, queries=None, official: bool = True, name: str = "method",
                    trust_ids: bool = False, source: str | None = None) -> Evaluation:
    """Score a method given in memory ({pair: prediction}, ranks array) on every protocol of ``truth``.
    ``source``: the file the predictions came from, for messages (``score_files``).

    Warnings of the metric are raised again with the protocol they are about. Predictions most of which miss the
    evaluated splits while id - 1 would place them (``predictions.shifted_ids``) are refused (``ShiftedIds``):
    their figures would be a normal-looking table of nonsense; ``trust_ids=True`` scores them anyway, with a
    warning.
    """
    if distractors and ranks is None:
        raise InputError("distractors describe the ranks: pass ranks=... too")
    if queries is not None:
        queries = [as_id(q, Where("queries"), "a query id") for q in queries]
    splits = _splits(truth, protocols, queries)
    held = held_pairs(splits)
    _check_ids(by_pair, held, trust_ids)
    results = score_protocols(splits, by_pair, ranks, distractors=distractors, queries=queries, official=official,
                              source=source, **truth.options)
    subset = next(iter(results.values())).subset  # None when the list holds every query
    evaluation = Evaluation(name, truth, results, official, distractors, queries if subset is not None else None)
    _account_for(by_pair, held, evaluation)
    return evaluation


def held_pairs(splits: dict) -> set:
    """The (query_id, index_id) pairs the splits ({protocol: pairs split}) hold: their positive and junk rows."""
    held = set()
    for split in splits.values():
        held.update(zip(split["query_id"], split["index_id"]))
    return held


def _check_ids(by_pair, held: set, trust_ids: bool = False) -> None:
    """Refuse predictions most of which miss the splits while id - 1 would place them (``ShiftedIds``); with
    ``trust_ids`` (or when most are on the splits) say what they look like."""
    if not isinstance(trust_ids, (bool, np.bool_)):
        raise InputError(f"trust_ids must be True or False, got {trust_ids!r}")
    shifted = shifted_ids(by_pair, held)
    if shifted and not trust_ids and 2 * sum(pair not in held for pair in by_pair) > len(by_pair):
        raise ShiftedIds(shifted)
    shifted = shifted or one_based(by_pair, held)
    if shifted:
        warnings.warn(f"{shifted}: the ids look 1-based (they are 0-based: revisitop's positions)", UserWarning,
                      stacklevel=4)


def _account_for(by_pair: dict, held: set, evaluation: Evaluation) -> None:
    """Predictions for pairs no evaluated split holds are not scored: count them (``_check_ids`` said whether they
    look 1-based)."""
    if one_based(by_pair, held):
        return
    unused = [pair for pair in by_pair if pair not in held]
    if unused and len(unused) == len(by_pair):
        warnings.warn(f"none of the {len(by_pair)} predictions is for a pair the evaluated splits hold: nothing is "
                      "scored (are these results for this dataset?)", UserWarning, stacklevel=3)
    elif unused:
        evaluation.notes.append(f"{len(unused)} of {len(by_pair)} predictions are for pairs the evaluated splits do "
                                "not hold (negatives, or pairs of other protocols): not scored")


def score_protocols(splits: dict, by_pair: dict, ranks=None, **options) -> dict:
    """{protocol: Result} for splits {protocol: pairs split} (``options``: the metric's); warnings get the protocol."""
    out = {}
    for protocol, split in splits.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out[protocol] = evaluate_pixel_retrieval(align(by_pair, split), split, ranks=ranks, **options)
        for warning in caught:
            warnings.warn(f"{protocol}: {warning.message}", warning.category, stacklevel=2)
    return out
