"""The references of an evaluation: one protocol split of the pairs config, checked and brought to arrays.

``check_references`` refuses anything that would give a number about something else than
the benchmark asked for: another benchmark's or custom queries (by name), a query left out,
rows filtered out, a mix of protocols, duplicate pairs, malformed masks. Every message names
the row and its pair.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from pycocotools import mask as cocomask

from . import rle
from .authors_iou import check_points
from .benchmarks import BENCHMARKS, CUSTOM, DIFFICULTIES, POSITIVE_DIFFICULTIES, lists_digest
from .errors import InputError
from .predictions import Where, as_rows


@dataclass
class References:
    """One protocol split, checked: per-row arrays and what the figures average over."""

    benchmark: str  # "proxford", "prparis" or "custom"
    protocol: str
    query_ids: np.ndarray  # per row
    index_ids: np.ndarray
    positive: np.ndarray  # bool
    difficulty: np.ndarray  # per row: "easy", "hard" or "junk" (revisitop's class of the image for the query)
    masks: list  # per row: pycocotools RLE (counts as bytes) of a positive's mask, or None
    queries: np.ndarray  # the query ids averaged over, in the order given (ranks rows of a subset follow it)
    num_queries: int  # of the benchmark (rows of a full ranking)
    index_size: int | None
    subset: bool
    # rows -> their shapes column (the released LabelMe shapes), read when first asked for; None: no such column
    read_shapes: Callable | None = field(default=None, repr=False)
    _mask_facts: tuple | None = field(default=None, repr=False)  # every row's mask box and area, once

    def mask_facts(self, rows) -> tuple[np.ndarray, np.ndarray]:
        """(boxes [x, y, w, h] as pycocotools' toBbox gives them, areas) of the masks of ``rows``, each a labelled
        row: worked out once for every labelled row (a split checked once is scored many times)."""
        if self._mask_facts is None:
            labelled = [r for r, m in enumerate(self.masks) if m is not None]
            boxes, areas = np.zeros((len(self.masks), 4)), np.zeros(len(self.masks), np.int64)
            if labelled:
                coco = [self.masks[r] for r in labelled]
                boxes[labelled] = cocomask.toBbox(coco).reshape(-1, 4)
                areas[labelled] = [cocomask.area(c) for c in coco]  # (its list version overflows past 255)
            self._mask_facts = boxes, areas
        return self._mask_facts[0][rows], self._mask_facts[1][rows]

    def shapes(self, rows) -> list:
        """The released shapes of each of ``rows``: a list of N x 2 float64 point arrays (x, y), raw, per row.

        Only positives with a label have shapes; a row without raises InputError, as do references without a
        ``shapes`` column (the authors' procedure fills the released points, not the mask)."""
        if self.read_shapes is None:
            raise InputError("the references have no shapes column (the released LabelMe shapes of each pair), "
                             "which official scoring of polygon predictions fills as the authors do: rebuild the "
                             "dataset with this pixret, or pass official=False (exact geometry against the masks)")
        out = []
        for r, value in zip(rows, self.read_shapes(rows)):
            out.append(_shapes(value, self.where(int(r))))
        return out

    @property
    def labelled(self) -> np.ndarray:
        return np.asarray([m is not None for m in self.masks], bool)

    def pair(self, row: int) -> tuple[int, int]:
        return int(self.query_ids[row]), int(self.index_ids[row])

    def where(self, row: int, what: str = "references") -> Where:
        return Where(f"{what} row {row}", self.pair(row))


_REFERENCE_COLUMNS = ("query_id", "index_id", "difficulty", "positive", "mask")


def _columns(references, names) -> dict:
    """Columns of a split given as a datasets.Dataset or as a list of row dicts."""
    if hasattr(references, "column_names"):
        missing = [c for c in names if c not in references.column_names]
        if missing:
            raise InputError(f"references lack the columns {missing}: pass a split of the dataset's pairs config")
        return references.select_columns(list(names)).to_dict()
    out = {c: [] for c in names}
    for r, row in enumerate(references):
        if not isinstance(row, dict) or any(c not in row for c in names):
            raise InputError(f"references row {r}: expected a row of the dataset's pairs config with {list(names)}")
        for c in names:
            out[c].append(row[c])
    return out


def int_column(values, what: str, where: str = "references row") -> np.ndarray:
    """Integer ids as int64: Python or numpy integers (any mix), not bools, floats or strings."""
    out = np.empty(len(values), np.int64)
    for r, v in enumerate(values):
        if not isinstance(v, (int, np.integer)) or isinstance(v, (bool, np.bool_)) or not -2**63 <= v < 2**63:
            raise InputError(f"{where} {r}: {what} must be an integer, got {v!r}")
        out[r] = v
    return out


def whole_number(value, what: str, low: int = 1) -> int:
    """An option that must be an integer >= low (not a bool, a float or a string)."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)) or value < low:
        raise InputError(f"{what} must be an integer >= {low}, got {value!r}")
    return int(value)


def protocol_of(difficulty: np.ndarray, positive: np.ndarray) -> str:
    """The revisitop protocol a pairs split follows, from its difficulty and positive columns."""
    bad = np.flatnonzero(~np.isin(difficulty, DIFFICULTIES))
    if bad.size:
        raise InputError(f"references row {bad[0]}: unknown difficulty {difficulty[bad[0]]!r}")
    for protocol, kinds in POSITIVE_DIFFICULTIES.items():
        if np.array_equal(np.isin(difficulty, kinds), positive):
            return protocol
    raise InputError("references mix protocols: their positive flags fit none of easy / medium / hard "
                     "(pass one split of the pairs config)")


_CHECKED: OrderedDict = OrderedDict()  # (a Dataset's fingerprint, the options) -> its References
KEPT = 8  # splits kept checked in a process (a few protocols of a few datasets)


def check_references(references, benchmark: str, queries=None, index_size: int | None = None,
                     num_queries: int | None = None) -> References:
    """``_check_references``, once per split: a ``datasets.Dataset`` (immutable, named by its fingerprint) checked
    with the same options is not checked again in this process (the masks of ROxford's 5,526 positives alone take
    a fifth of a compute). Lists of rows, which can change, are checked every time."""
    fingerprint = getattr(references, "_fingerprint", None) if hasattr(references, "column_names") else None
    key = None if fingerprint is None or queries is not None else (fingerprint, benchmark, index_size, num_queries)
    if key is not None and key in _CHECKED:
        _CHECKED.move_to_end(key)
        return _CHECKED[key]
    refs = _check_references(references, benchmark, queries, index_size, num_queries)
    if key is not None:  # (a subset, whose checks may warn, is never kept: its warnings come every time)
        _CHECKED[key] = refs
        while len(_CHECKED) > KEPT:
            _CHECKED.popitem(last=False)
    return refs


def _check_references(references, benchmark: str, queries=None, index_size: int | None = None,
                      num_queries: int | None = None) -> References:
    """Check a pairs split and bring it to arrays.

    ``benchmark``: "proxford" / "prparis" (the references must be that benchmark's, by
    their query names, and cover all its queries) or "custom" (data in the same format,
    e.g. the demo world: queries 0 .. num_queries - 1, default the largest id + 1).
    ``queries``: average over this subset of query ids only (the references must hold
    exactly these queries, in this order). Raises InputError naming the row and pair.

    The checks run in this order, each on what the ones before established; the first problem is the one told.
    """
    facts = _benchmark_facts(benchmark)
    references = as_rows(references, "references")
    index_size = None if index_size is None else whole_number(index_size, "index_size")
    num_queries = None if num_queries is None else whole_number(num_queries, "num_queries")
    columns = _read_columns(references, facts)
    query_ids = int_column(columns["query_id"], "query_id")
    index_ids = int_column(columns["index_id"], "index_id")
    positive = _positive_column(columns["positive"])
    difficulty = np.asarray(columns["difficulty"], object)
    protocol = protocol_of(difficulty, positive)
    num_queries, index_size = _sizes(facts, query_ids, num_queries, index_size)
    where = _Rows(query_ids, index_ids)
    _check_ids_known(query_ids, index_ids, num_queries, index_size, where)
    if facts:
        _check_identity(facts, query_ids, columns["query_name"], where)
    _check_no_duplicates(query_ids, index_ids, where)
    if queries is None:
        wanted, subset = _check_coverage(query_ids, num_queries, facts), False
    else:
        wanted, subset = _check_subset(query_ids, queries, num_queries)
    if facts:
        _check_row_counts(facts, protocol, query_ids, positive, wanted)
    else:
        _refuse_a_benchmark(query_ids, index_ids, difficulty, columns.get("query_name"), subset)
    masks = _checked_masks(columns["mask"], positive, where)
    return References(benchmark, protocol, query_ids, index_ids, positive, difficulty, masks, wanted, num_queries,
                      index_size, subset, _shapes_reader(references))


def _benchmark_facts(benchmark):
    """The registry's facts of ``benchmark``; None for "custom"; anything else is refused."""
    facts = BENCHMARKS.get(benchmark) if isinstance(benchmark, str) else None
    if facts is None and benchmark != CUSTOM:
        raise InputError(f"unknown benchmark {benchmark!r}; expected one of {[*BENCHMARKS, CUSTOM]}")
    return facts


def _read_columns(references, facts) -> dict:
    """The columns of a non-empty split; a benchmark's references must have its query names too."""
    if len(references) == 0:
        raise InputError("references are empty: pass a split of the dataset's pairs config")
    names = _REFERENCE_COLUMNS + (("query_name",) if facts or _has_query_names(references) else ())
    try:
        return _columns(references, names)
    except InputError as err:
        if facts and "query_name" in str(err):
            raise InputError(f"{err} (the query names tell which benchmark the references are)") from None
        raise


def _positive_column(values) -> np.ndarray:
    """The positive flags: true or false on every row (never 0 / 1 or text, which would hide a wrong column)."""
    bad = next((r for r, v in enumerate(values) if not isinstance(v, (bool, np.bool_))), None)
    if bad is not None:
        raise InputError(f"references row {bad}: positive must be true or false, got {values[bad]!r}")
    return np.asarray(values, bool)


def _sizes(facts, query_ids, num_queries: int | None, index_size: int | None) -> tuple[int, int | None]:
    """(num_queries, index_size) of the data: a benchmark's own (the options given must agree with them), or for
    custom data the options, num_queries defaulting to the largest query id + 1."""
    if not facts:
        return (int(query_ids.max()) + 1 if num_queries is None else int(num_queries)), index_size
    for what, given, expected in (("num_queries", num_queries, facts.num_queries),
                                  ("index_size", index_size, facts.index_size)):
        if given is not None and given != expected:
            raise InputError(f"{what}={given}, but {facts.pretty_name} has {expected}")
    return facts.num_queries, facts.index_size


def _check_ids_known(query_ids, index_ids, num_queries: int, index_size: int | None, where) -> None:
    """Every query id below num_queries and every index id inside the index (when its size is known)."""
    bad = np.flatnonzero((query_ids < 0) | (query_ids >= num_queries))
    if bad.size:
        raise InputError(f"{where(bad[0])}: unknown query id {query_ids[bad[0]]} (queries 0..{num_queries - 1})")
    bad = np.flatnonzero((index_ids < 0) | (index_ids >= (index_size if index_size is not None else 2**62)))
    if bad.size:
        raise InputError(f"{where(bad[0])}: unknown index id {index_ids[bad[0]]}"
                         + (f" (the index has {index_size} images)" if index_size is not None else ""))


def _check_no_duplicates(query_ids, index_ids, where) -> None:
    """Each (query, index image) pair once: the later row of a repeated pair is named."""
    order = np.lexsort((index_ids, query_ids))  # pairs side by side, without any overflowing key
    repeated = np.flatnonzero((np.diff(query_ids[order]) == 0) & (np.diff(index_ids[order]) == 0))
    if repeated.size:
        raise InputError(f"{where(int(max(order[repeated[0]], order[repeated[0] + 1])))}: this pair appears twice")


def _check_coverage(query_ids, num_queries: int, facts) -> np.ndarray:
    """The queries averaged over when no subset is asked for: every one of the data's, each with rows."""
    present = np.unique(query_ids)
    if present.size < num_queries:  # (never an array of num_queries: that is the caller's number)
        missing = np.setdiff1d(np.arange(min(num_queries, present.size + 10)), present)[:10]
        name = facts.pretty_name if facts else "the data"
        raise InputError(f"references lack queries {missing.tolist()}"
                         + (" ..." if num_queries - present.size > missing.size else "")
                         + f" ({present.size} of {num_queries} queries of {name}): figures would be averaged "
                         "over a subset; pass the whole split, or ask for a subset explicitly with queries=[...]")
    return present


def _check_subset(query_ids, queries, num_queries: int) -> tuple[np.ndarray, bool]:
    """(the queries averaged over, whether they are a subset) for the ``queries`` option: the references must hold
    exactly those queries. A list of every query is no subset: the benchmark's figures, by query id."""
    wanted = _query_list(queries, num_queries)
    present = np.unique(query_ids)
    extra, missing = np.setdiff1d(present, wanted), np.setdiff1d(wanted, present)
    if extra.size or missing.size:
        raise InputError("references do not hold exactly the queries asked for: "
                         + (f"extra {extra.tolist()[:10]} " if extra.size else "")
                         + (f"missing {missing.tolist()[:10]}" if missing.size else ""))
    if wanted.size < num_queries:
        return wanted, True
    if (np.diff(wanted) < 0).any():  # (stacklevel: the caller of check_references)
        warnings.warn("queries lists every query, in another order than their ids: ranks of (num_queries, K) "
                      "are read by query id (row q is query q), not in the order of this list", stacklevel=4)
    return np.sort(wanted), False


def _checked_masks(masks, positive, where) -> list:
    """Per row: a positive's mask as pycocotools RLE, validated (``rle.validate``); None for junk and for a positive
    without a mask."""
    masks = list(masks)
    given = [r for r in np.flatnonzero(positive) if masks[r] is not None]
    try:
        coco = rle.validate([masks[r] for r in given])
    except rle.RLEProblem as err:
        raise InputError(f"{where(given[err.index])}: mask: {err.problem}") from None
    checked: list = [None] * len(masks)
    for r, c in zip(given, coco):
        checked[r] = c
    return checked


def _shapes_reader(references) -> Callable | None:
    """rows -> the ``shapes`` values of those rows, read only when asked for (None: the references have none)."""
    if hasattr(references, "column_names"):
        if "shapes" not in references.column_names:
            return None
        return lambda rows: references.select_columns(["shapes"]).select(np.asarray(rows, np.int64))["shapes"]
    if not (len(references) and isinstance(references[0], dict) and "shapes" in references[0]):
        return None
    return lambda rows: [references[int(r)].get("shapes") for r in rows]


def _shapes(value, where: Where) -> list[np.ndarray]:
    """One row's shapes as point arrays, checked: a list of {"shape_type", "points": [[x, y], ...]}."""
    if value is None:
        raise InputError(f"{where}: no shapes (no released label for this pair)")
    if not isinstance(value, (list, tuple)) or not value:
        raise InputError(f"{where}: shapes must be a non-empty list of {{shape_type, points}}, got {value!r:.80}")
    out = []
    for k, shape in enumerate(value):
        if not isinstance(shape, dict) or "points" not in shape:
            raise InputError(f"{where}: shape {k} must be {{shape_type, points}}, got {shape!r:.80}")
        try:
            points = np.asarray(shape["points"], np.float64)
        except (TypeError, ValueError, OverflowError):
            raise InputError(f"{where}: shape {k}: points must be [x, y] number pairs") from None
        check_points(points, f"{where}: shape {k}", "shape")
        out.append(points)
    return out


def _has_query_names(references) -> bool:
    if hasattr(references, "column_names"):
        return "query_name" in references.column_names
    return len(references) > 0 and isinstance(references[0], dict) and "query_name" in references[0]


def _query_list(queries, num_queries: int) -> np.ndarray:
    """The ``queries`` option: distinct query ids, kept in the order given (a subset's ranks rows follow it)."""
    if isinstance(queries, (set, frozenset)):
        raise InputError("queries must be a list: a set has no order, and a subset's ranks rows are read in the order "
                         f"of the list (sorted: {sorted(queries)[:10]})")
    iterable = hasattr(queries, "__iter__") and not isinstance(queries, (str, bytes, dict))
    listed = np.asarray(list(queries) if iterable and not isinstance(queries, np.ndarray) else queries,
                        dtype=object) if iterable else None
    if listed is None or listed.ndim != 1 or listed.size == 0:
        raise InputError(f"queries must be a non-empty list of query ids, got {queries!r}")
    wanted = int_column(list(listed), "query id", "queries item")
    if wanted.min() < 0 or wanted.max() >= num_queries:
        raise InputError(f"queries must be query ids 0..{num_queries - 1}, got {listed.tolist()[:10]}")
    values, counts = np.unique(wanted, return_counts=True)
    if (counts > 1).any():
        raise InputError(f"queries lists query {int(values[counts > 1][0])} twice: each query once (a subset's "
                         "ranks rows are read in the order of this list)")
    return wanted


def _refuse_a_benchmark(query_ids, index_ids, difficulty, query_names, subset: bool) -> None:
    """Config "custom" on a benchmark's own references would silently drop its rules (the ignore list): refuse,
    recognising the benchmark by its query names or by its easy / hard / junk lists."""
    for facts in BENCHMARKS.values():
        whole = subset or np.unique(query_ids).size == facts.num_queries  # (a subset asked for, or all its queries)
        by_names = query_names is not None and whole and query_ids.max() < facts.num_queries and np.array_equal(
            np.asarray([str(n) for n in query_names], object), np.asarray(facts.query_names, object)[query_ids])
        by_lists = not subset and not by_names and np.unique(query_ids).size == facts.num_queries and lists_digest(*(
            [index_ids[(query_ids == q) & (difficulty == kind)] for q in range(facts.num_queries)]
            for kind in ("easy", "hard", "junk"))) == facts.gnd_sha256
        if by_names or by_lists:
            raise InputError(f"these references are {facts.pretty_name} (by their "
                             f"{'query names' if by_names else 'easy / hard / junk lists'}), but the metric's config "
                             f"is {CUSTOM!r}, which leaves out {facts.pretty_name}'s rules (its ignored queries): load "
                             f"the metric with config {facts.name!r}")



class _Rows:
    """Names a row of the references with its pair."""

    def __init__(self, query_ids, index_ids):
        self.query_ids, self.index_ids = query_ids, index_ids

    def __call__(self, row) -> Where:
        return Where(f"references row {int(row)}", (self.query_ids[row], self.index_ids[row]))


def _check_identity(facts, query_ids, query_names, where) -> None:
    """The references' query names must be the benchmark's, id by id."""
    expected = np.asarray(facts.query_names, object)[query_ids]
    names = np.asarray([str(n) for n in query_names], object)
    bad = np.flatnonzero(names != expected)
    if not bad.size:
        return
    row = bad[0]
    others = [b for b in BENCHMARKS.values() if b is not facts
              and (np.asarray(b.query_names, object)[query_ids[bad] % b.num_queries] == names[bad]).all()]
    if others:
        raise InputError(f"these references are {others[0].pretty_name} (query {query_ids[row]} is "
                         f"{names[row]!r}), but the benchmark asked for is {facts.pretty_name}: load the metric "
                         f"with config {others[0].name!r}")
    raise InputError(f"{where(row)}: query {query_ids[row]} is {names[row]!r}, but {facts.pretty_name}'s query "
                     f"{query_ids[row]} is {expected[row]!r}: these references are not {facts.pretty_name}; "
                     f"for data in its format that is not the benchmark (the demo world, your own) use the "
                     f"config {CUSTOM!r}")


def _check_row_counts(facts, protocol, query_ids, positive, queries) -> None:
    """Every query must have all its positive and junk rows: a filtered split gives wrong figures."""
    positives = np.bincount(query_ids[positive], minlength=facts.num_queries)
    junk = np.bincount(query_ids[~positive], minlength=facts.num_queries)
    for q in queries:
        expected = facts.protocol_counts(protocol, int(q))
        if (positives[q], junk[q]) != expected:
            raise InputError(f"references hold {positives[q]} positive and {junk[q]} junk rows for query {q}; "
                             f"{facts.pretty_name} {protocol} has {expected[0]} and {expected[1]}: pass the "
                             "whole split (rows filtered out change the figures)")
