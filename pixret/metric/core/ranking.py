"""Rankings: where the relevant images are in them (one pass), and the figures made from that.

``locate`` finds the positions of each query's positives and junk in its ranking, refusing
ids that are negative, past the index (unless distractors are declared) or repeated;
``average_precision`` is revisitop's, ``pixel_map`` the paper's Table 2 (a positive counts
at threshold t only if its IoU is above t), ``image_map`` revisitop's mAP and mP@k. These
work on every query and threshold at once, and equal a per-query loop of
``average_precision`` to the last bit (tests/test_ranking.py).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .benchmarks import BENCHMARKS, R1M_DISTRACTORS
from .errors import InputError
from .figures import KAPPAS, THRESHOLDS
from .references import References

SHIFT_TOP = 100  # rankings are checked for 1-based ids on their top this many
_TABLE_IDS = 1 << 24  # rank rows are checked for duplicates with a table up to this many ids, else by sorting


def check_ranks(ranks, refs: References, distractors: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The ranks as an integer ndarray (an ndarray is not copied), and the ranks row of each averaged query."""
    if isinstance(ranks, np.ma.MaskedArray):
        raise InputError("ranks are a masked array: masked entries would be read as ids; pass a plain array")
    try:
        ranks = np.asarray(ranks)
    except ValueError as err:  # ragged rows
        raise InputError(f"ranks must be a (num_queries, K) array of index ids ({err})") from None
    if ranks.dtype == object:
        raise InputError("ranks must be a (num_queries, K) array of index ids; got rows of different lengths "
                         "or non-numbers")
    if ranks.dtype.kind not in "iu":
        raise InputError(f"ranks must be integer index ids, got dtype {ranks.dtype}"
                         + (" (if they hold whole numbers: ranks.astype(np.int64))" if ranks.dtype.kind == "f"
                            else ""))
    if refs.index_size is None:
        raise InputError("ranks need the index size: pass index_size= (the number of index images) "
                         "for benchmark 'custom'")
    rows_wanted = (refs.num_queries,) + ((refs.queries.size,) if refs.subset else ())
    if ranks.ndim != 2 or ranks.shape[0] not in rows_wanted:
        hint = (" (that is revisitop's (K, num_queries) layout: pass ranks.T)"
                if ranks.ndim == 2 and ranks.shape[1] in rows_wanted else "")
        raise InputError(f"ranks must have shape (num_queries={refs.num_queries}, K)"
                         + (f" or (len(queries)={refs.queries.size}, K)" if refs.subset else "")
                         + f", got {ranks.shape}{hint}")
    if ranks.shape[1] == 0:
        warnings.warn("ranks have no columns: nothing is retrieved, every AP is 0", stacklevel=3)
    if ranks.shape[0] == ranks.shape[1]:
        warnings.warn(f"ranks are square ({ranks.shape[0]} x {ranks.shape[1]}): read as (queries, K), one row per "
                      "query; revisitop's layout is (K, queries): if these are, pass ranks.T", stacklevel=3)
    rows = refs.queries if ranks.shape[0] == refs.num_queries else np.arange(refs.queries.size)
    return ranks, rows


def locate(ranks: np.ndarray, rows, relevant: list[np.ndarray], index_size: int, distractors: int = 0,
           past_index: list | None = None) -> list[np.ndarray]:
    """Position of each of ``relevant[k]`` in ranks row ``rows[k]`` (-1: not ranked).

    One pass over each row, which also refuses ids that are negative, past the index
    (unless ``distractors`` are declared), past index + distractors, or repeated (a
    repeated distractor would shift every later position): the first bad row raises
    InputError naming it. Memory and time are bound by the index size, the distractors
    and K, never by the ids' values. One thread: on 2 busy cores, rows over 2 threads
    were slower (benchmarks/bench_metric.py). ``past_index``: a list to receive, per row,
    whether it holds an id past the index.
    """
    limit = index_size + distractors  # ids 0 .. limit - 1
    top = 1 + max((int(ids.max()) for ids in relevant if ids.size), default=0)
    position = np.full(top, -1, np.int64)
    seen = np.zeros(limit, bool) if limit <= _TABLE_IDS else None
    results, past = [], []
    for k, ids in enumerate(relevant):
        row = np.ascontiguousarray(ranks[rows[k]])  # a copy only of a strided row (revisitop's layout, .T)
        hits = np.flatnonzero(row < top)  # the relevant ids' places, and every negative id's
        found = row[hits]
        problem, beyond = _check_row(row, found, seen, index_size, distractors)
        if problem:
            raise InputError(f"ranks row {int(rows[k])}: {problem}")
        past.append(beyond)
        position[found] = hits
        results.append(position[ids])
        position[found] = -1
    if past_index is not None:
        past_index[:] = past
    return results


def _check_row(row: np.ndarray, found: np.ndarray, seen, index_size: int, distractors: int) -> tuple[str | None, bool]:
    """What is wrong with a ranks row's ids (None: nothing), and whether it holds an id past the index.

    ``found``: the row's ids below the relevant ones' top, among which is any negative id. ``seen``: a table
    of every allowed id, all False (and left so), or None: then the row is sorted. With the table, one
    scatter finds both ids past its end (numpy refuses them) and repeats (fewer ids marked than given).
    """
    limit = index_size + distractors
    if found.size and found.min() < 0:
        return _id_problem(int(row.min()), int(row.max()), index_size, distractors), False
    if seen is None or row.dtype == np.uint64:  # (numpy would wrap a uint64 id past 2**63 to a negative index)
        high = int(row.max()) if row.size else -1
        if high >= limit:
            return _id_problem(int(row.min()), high, index_size, distractors), False
    if seen is not None:
        try:
            seen[row] = True
        except IndexError:
            seen.fill(False)
            return _id_problem(int(row.min()), int(row.max()), index_size, distractors), False
        distinct = np.count_nonzero(seen)
        past = bool(distractors) and np.count_nonzero(seen[:index_size]) < distinct
        _unmark(seen, row)
        if distinct == row.size:
            return None, past
    duplicate = _smallest_repeat(row)
    if duplicate is not None:
        return f"index id {duplicate} appears twice", False
    return None, bool(distractors) and row.size > 0 and int(row.max()) >= index_size


def _unmark(seen: np.ndarray, row: np.ndarray) -> None:
    """Set a row's ids back to False: a memset, unless the row is much shorter than the table."""
    if 16 * row.size < seen.size:
        seen[row] = False
    else:
        seen.fill(False)


def _id_problem(low: int, high: int, index_size: int, distractors: int) -> str | None:
    if low < 0:
        return f"negative index id {low}"
    if high < index_size + distractors:
        return None
    one_based = " They look 1-based (no id 0, largest id = the count): ids are 0-based, subtract 1." if (
        low >= 1 and high == index_size + distractors) else ""
    if distractors:
        return (f"index id {high} is past the index ({index_size} images, ids 0..{index_size - 1}) and the "
                f"{distractors} declared distractors (ids {index_size}..{index_size + distractors - 1}).{one_based}")
    return (f"index id {high} is not in the index ({index_size} images, ids 0..{index_size - 1}).{one_based} "
            f"If the ranking includes the R1M distractors (ids from {index_size} on), declare them: "
            f"distractors={R1M_DISTRACTORS}")


def _smallest_repeat(row: np.ndarray):
    """The smallest id that appears more than once in ``row``, or None."""
    ordered = np.sort(row)
    repeated = np.flatnonzero(ordered[1:] == ordered[:-1])
    return int(ordered[repeated[0]]) if repeated.size else None


def average_precision(positions: np.ndarray, nres: int) -> float:
    """revisitop AP: trapezoids over sorted, junk-adjusted 0-based positions of the retrieved positives (of one
    query; pixel_map and image_map sum the same terms for every query at once)."""
    if nres == 0:
        return float("nan")
    r = np.asarray(positions, dtype=np.float64)
    j = np.arange(r.size, dtype=np.float64)
    p0 = np.divide(j, r, out=np.ones_like(r), where=r > 0)
    p1 = (j + 1) / (r + 1)
    return float(((p0 + p1) / 2).sum() / nres)


def pixel_map(positive_positions, positive_ious, junk_positions, ignored=(), thresholds=THRESHOLDS, official=True):
    """Pixel-retrieval mAP@thresholds, per the authors' code.

    Per query k: ``positive_positions[k]`` (-1 = not ranked) and ``positive_ious[k]`` of the
    protocol's positives, ``junk_positions[k]`` of its junk. At each t: positives with IoU > t
    are the positives, the other protocol positives stay in the ranking as negatives; a query
    with none is dropped from that t's mean; queries whose position is in ``ignored`` add 0
    but stay in the denominator (``official=False``: they are left out like dropped queries).
    Returns (mAP, per-threshold mAP, per-query x threshold AP with nan = dropped or ignored).
    """
    position, query = _flat(positive_positions, np.int64)
    ious, iou_query = _flat(positive_ious, np.float64)
    if not np.array_equal(query, iou_query):
        raise ValueError("positive_ious must hold one IoU per positive position, query by query")
    junk, junk_query = _flat(junk_positions, np.int64)
    ranked = _Ranked.of(query, position, junk_query, junk, len(positive_positions))
    return _pixel_map(ranked, ious, _ignored_mask(ignored, len(positive_positions)), thresholds, official)


def image_map(positive_positions, junk_positions, kappas=KAPPAS):
    """revisitop image-level mAP and mP@k over the queries with at least one positive.

    A query none of whose positives is ranked (possible with K < database size) has
    precision 0 at every k (revisitop's code would fail on it).
    """
    position, query = _flat(positive_positions, np.int64)
    junk, junk_query = _flat(junk_positions, np.int64)
    return _image_map(_Ranked.of(query, position, junk_query, junk, len(positive_positions)), kappas)


# ---------------------------------------------------------------- every query at once
# Per-query values are flat arrays with each value's query (0 .. num_queries - 1). Each AP is numpy's own
# sum of that query's terms (see _run_sums), so the figures equal a per-query loop's to the bit.

def _flat(per_query, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Per-query arrays as one array, and each value's query."""
    arrays = [np.asarray(values, dtype).ravel() for values in per_query]
    counts = np.fromiter((a.size for a in arrays), np.int64, len(arrays))
    return (np.concatenate(arrays) if arrays else np.zeros(0, dtype)), np.repeat(np.arange(len(arrays)), counts)


def _junk_before(query: np.ndarray, position: np.ndarray, junk_query: np.ndarray, junk_position: np.ndarray):
    """For each (query, position >= 0): how many of that query's ranked junk have a smaller position."""
    ranked = junk_position >= 0
    junk_query, junk_position = junk_query[ranked], junk_position[ranked]
    if not (junk_position.size and position.size):
        return np.zeros(position.size, np.int64)
    span = 1 + max(int(position.max()), int(junk_position.max()))
    if (1 + max(int(query.max()), int(junk_query.max()))) * span >= 2 ** 62:  # positions by rank: small keys
        values = np.unique(np.concatenate([position, junk_position]))
        position, junk_position = np.searchsorted(values, position), np.searchsorted(values, junk_position)
        span = values.size
    junk_keys = np.sort(junk_query * span + junk_position)  # (query, position) pairs in order, as one number
    return np.searchsorted(junk_keys, query * span + position) - np.searchsorted(junk_keys, query * span)


@dataclass
class _Ranked:
    """The queries' positives, with the ranked ones in ranking order: what AP needs, whatever the IoUs."""

    query: np.ndarray  # of each positive
    order: np.ndarray  # the ranked positives (indices into query), by query, then position
    adjusted: np.ndarray  # their positions less their query's junk ranked before them (revisitop's)
    num_queries: int

    @classmethod
    def of(cls, query, position, junk_query, junk_position, num_queries: int) -> _Ranked:
        ranked = np.flatnonzero(position >= 0)
        order = ranked[np.lexsort((position[ranked], query[ranked]))]
        adjusted = position[order] - _junk_before(query[order], position[order], junk_query, junk_position)
        return cls(query, order, adjusted, num_queries)

    def ap_sums(self, counted: np.ndarray) -> np.ndarray:
        """Sum of revisitop's AP terms per (row of ``counted``, query); ``counted`` (rows, ranked positives, in
        ``order``): which positives count. Each sum is numpy's sum of that query's terms alone."""
        rows = counted.shape[0]
        query = self.query[self.order]
        counts = np.cumsum(counted, axis=1)
        first = np.searchsorted(query, query)  # the place of each one's query's first ranked positive
        before = counts - counted - (counts[:, first] - counted[:, first])  # counted ones of its query before it
        j = before[counted].astype(np.float64)
        r = np.broadcast_to(self.adjusted, counted.shape)[counted].astype(np.float64)
        p0 = np.divide(j, r, out=np.ones_like(r), where=r > 0)
        p1 = (j + 1) / (r + 1)
        runs = (np.arange(rows)[:, None] * self.num_queries + query)[counted]  # (row, query) of each term, in order
        return _run_sums((p0 + p1) / 2, np.bincount(runs, minlength=rows * self.num_queries)).reshape(
            rows, self.num_queries)


def _run_sums(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The sum of each run of ``values`` (run k: the next ``lengths[k]`` values), equal to the run's own .sum():
    the runs of one length are summed as the rows of one array, which numpy sums row by row in the same order."""
    sums = np.zeros(lengths.size)
    starts = np.cumsum(lengths) - lengths
    by_length = np.argsort(lengths, kind="stable")
    for runs in np.split(by_length, np.flatnonzero(np.diff(lengths[by_length])) + 1):
        length = int(lengths[runs[0]]) if runs.size else 0
        if length:
            sums[runs] = values[starts[runs, None] + np.arange(length)].sum(axis=1)
    return sums


def _ignored_mask(ignored, num_queries: int) -> np.ndarray:
    """The queries (by position) listed in ``ignored``."""
    listed = np.asarray(list(ignored))
    return np.isin(np.arange(num_queries), listed) if listed.size else np.zeros(num_queries, bool)


def _pixel_map(ranked: _Ranked, ious: np.ndarray, ignored: np.ndarray, thresholds, official: bool):
    """``pixel_map`` of prepared positives; ``ious``: one per positive, ``ignored``: a mask over queries."""
    thresholds = np.asarray(thresholds, np.float64)
    above = ious > thresholds[:, None]  # threshold x positive
    runs = (np.arange(thresholds.size)[:, None] * ranked.num_queries + ranked.query)[above]
    nres = np.bincount(runs, minlength=thresholds.size * ranked.num_queries).reshape(thresholds.size, -1)
    sums = ranked.ap_sums(above[:, ranked.order])
    counted = (nres > 0) & ~ignored  # threshold x query
    aps = np.full((ranked.num_queries, thresholds.size), np.nan)
    aps.T[counted] = sums[counted] / nres[counted]
    dropped = np.count_nonzero((nres == 0) & ~ignored, axis=1) + (0 if official else np.count_nonzero(ignored))
    denominators = ranked.num_queries - dropped
    sums = np.nansum(aps, axis=0)
    per_threshold = np.divide(sums, denominators, out=np.zeros(thresholds.size), where=denominators > 0)
    return float(per_threshold.mean()), per_threshold, aps


def _image_map(ranked: _Ranked, kappas=KAPPAS):
    """``image_map`` of prepared positives."""
    num_queries = ranked.num_queries
    nres = np.bincount(ranked.query, minlength=num_queries)
    sums = ranked.ap_sums(np.ones((1, ranked.order.size), bool))[0]
    has = nres > 0
    aps = np.full(num_queries, np.nan)
    aps[has] = sums[has] / nres[has]
    query = ranked.query[ranked.order]
    pos1 = ranked.adjusted + 1
    any_ranked = np.bincount(query, minlength=num_queries) > 0
    highest = np.full(num_queries, np.iinfo(np.int64).min)
    np.maximum.at(highest, query, pos1)
    prs = np.full((num_queries, len(kappas)), np.nan)
    for k, kappa in enumerate(kappas):
        kq = np.where(any_ranked, np.minimum(highest, kappa), kappa)
        within = np.bincount(query[pos1 <= kq[query]], minlength=num_queries)
        prs[has, k] = within[has] / kq[has]
    valid = ~np.isnan(aps)
    if not valid.any():
        return 0.0, np.zeros(len(kappas)), aps, prs
    return float(aps[valid].mean()), prs[valid].mean(axis=0), aps, prs


def _query_of_rows(by_query: list, num_rows: int) -> np.ndarray:
    """Each reference row's place in ``by_query`` (-1: a row of no query averaged over)."""
    query = np.full(num_rows, -1, np.int64)
    if by_query:
        query[np.concatenate(by_query)] = np.repeat(np.arange(len(by_query)), [len(rows) for rows in by_query])
    return query


def _junk_adjusted(row_position: np.ndarray, refs: References, by_query) -> np.ndarray:
    """Each row's position in its query's ranking less the junk ranked before it (-1: not ranked)."""
    query = _query_of_rows(by_query, row_position.size)
    found = np.flatnonzero((query >= 0) & (row_position >= 0))
    junk = found[~refs.positive[found]]
    out = np.full(row_position.shape, -1, np.int64)
    out[found] = row_position[found] - _junk_before(query[found], row_position[found], query[junk],
                                                    row_position[junk])
    return out


@dataclass
class RankingFigures:
    """What a ranking gives: image-level figures, and pixel mAP per kind of IoU ("det", "seg")."""

    image_map: float
    image_mp: dict[int, float]  # k -> mP@k
    image_aps: np.ndarray  # per query (nan: no positive)
    image_precisions: np.ndarray  # per query x k
    positions: np.ndarray  # per scored pair: junk-adjusted 0-based position in its query's ranking (-1: not ranked)
    pixel_map: dict[str, float | None] = field(default_factory=dict)
    pixel_map_per_threshold: dict[str, np.ndarray | None] = field(default_factory=dict)
    pixel_aps: dict[str, np.ndarray | None] = field(default_factory=dict)  # per query x threshold (nan: none)


def rank_positions(refs: References, ranks, distractors: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Each reference row's 0-based position in its query's ranking (-1: not ranked), and the rows of each query."""
    ranks, rank_rows = check_ranks(ranks, refs, distractors)
    by_query = [np.flatnonzero(refs.query_ids == q) for q in refs.queries]
    relevant = [refs.index_ids[rows] for rows in by_query]
    past_index: list = []
    positions = locate(ranks, rank_rows, relevant, refs.index_size, distractors, past_index=past_index)
    row_position = np.empty(len(refs.query_ids), np.int64)
    for rows, found in zip(by_query, positions):
        row_position[rows] = found
    _warn_ranks(ranks, rank_rows, relevant, positions, refs.index_size, distractors, past_index)
    return row_position, by_query


def _warn_ranks(ranks, rank_rows, relevant, positions, index_size: int, distractors: int, past_index) -> None:
    """Legal rankings that are probably a mistake: 1-based ids in a truncated ranking (where no id reaches the
    index size, which the id check would catch), distractors declared that no row holds."""
    top = min(ranks.shape[1], SHIFT_TOP)
    placed = np.concatenate(positions) if positions else np.zeros(0, np.int64)
    found = int(np.count_nonzero((placed >= 0) & (placed < top)))
    shifted = _count_pairs(ranks[np.asarray(rank_rows), :top].astype(np.int64) - 1, relevant, index_size)
    if shifted > 2 * found + 5:
        warnings.warn(f"the ranks look 1-based: with every id - 1, {shifted} of the queries' positive and junk images "
                      f"would be in the top {top} of their rankings, against {found} as given; ids are 0-based "
                      "(revisitop's positions): subtract 1", stacklevel=4)
    if distractors and past_index and not any(past_index):
        warnings.warn(f"{distractors} distractors are declared, but no ranks row holds an id past the index "
                      f"({index_size} images): if these rankings are not over the index and the distractors (R1M), "
                      "drop distractors; figures with them are reported as R1M", stacklevel=4)


def _count_pairs(heads: np.ndarray, relevant: list, index_size: int) -> int:
    """How many ids of ``heads[k]`` are in ``relevant[k]`` (index ids), over every k; (row, id) pairs as one number."""
    row = np.broadcast_to(np.arange(heads.shape[0])[:, None], heads.shape)
    inside = (heads >= 0) & (heads < index_size)
    wanted = np.concatenate([k * index_size + np.asarray(ids, np.int64) for k, ids in enumerate(relevant)] or [[]])
    return int(np.count_nonzero(np.isin(row[inside] * index_size + heads[inside], wanted)))


def perfect_positions(refs: References, row_position: np.ndarray, by_query: list) -> np.ndarray:
    """The ranking with every positive first, in the method's own order (those it did not rank after them, in row
    order), and nothing else: a perfect image-level ranking that keeps the method's order among its positives."""
    query = _query_of_rows(by_query, row_position.size)
    positives = np.flatnonzero((query >= 0) & refs.positive)
    ranked = np.where(row_position[positives] >= 0, row_position[positives], np.iinfo(np.int64).max)
    order = positives[np.lexsort((positives, ranked, query[positives]))]
    out = np.full(row_position.shape, -1, np.int64)
    out[order] = np.arange(order.size) - np.searchsorted(query[order], query[order])
    return out


def pixel_maps(refs: References, row_position: np.ndarray, by_query: list, ious: dict, official: bool = True) -> dict:
    """``pixel_map`` (mAP, per-threshold mAP, per-query x threshold AP) of a ranking given as each reference row's
    position (-1: not ranked), per kind of IoU in ``ious`` (values on the scored pairs, or None: None)."""
    query = _query_of_rows(by_query, len(refs.query_ids))
    scored = refs.positive & refs.labelled  # unlabelled positives cannot be checked against a threshold: junk
    positives = np.flatnonzero((query >= 0) & scored)
    junk = np.flatnonzero((query >= 0) & ~scored)
    ranked = _Ranked.of(query[positives], row_position[positives], query[junk], row_position[junk], len(by_query))
    facts = BENCHMARKS.get(refs.benchmark)
    ignored = np.asarray([bool(facts) and q in facts.ignored_queries for q in refs.queries], bool)
    out = {}
    for name, values in ious.items():
        if values is None:
            out[name] = None
            continue
        iou_of_row = np.zeros(len(refs.query_ids))
        iou_of_row[scored] = values
        out[name] = _pixel_map(ranked, iou_of_row[positives], ignored, THRESHOLDS, official)
    return out


def figures_from_positions(refs: References, row_position: np.ndarray, by_query: list, ious: dict,
                           official: bool = True) -> RankingFigures:
    """The figures of a ranking given as each reference row's position in its query's ranking (-1: not ranked)."""
    query = _query_of_rows(by_query, len(refs.query_ids))
    positives = np.flatnonzero((query >= 0) & refs.positive)
    junk = np.flatnonzero((query >= 0) & ~refs.positive)
    image_ap, image_mp, image_aps, image_prs = _image_map(
        _Ranked.of(query[positives], row_position[positives], query[junk], row_position[junk], len(by_query)))
    out = RankingFigures(image_ap, {k: float(v) for k, v in zip(KAPPAS, image_mp)}, image_aps, image_prs,
                         _junk_adjusted(row_position, refs, by_query)[refs.positive & refs.labelled])
    for name, figures in pixel_maps(refs, row_position, by_query, ious, official).items():
        out.pixel_map[name], out.pixel_map_per_threshold[name], out.pixel_aps[name] = figures or (None, None, None)
    return out
