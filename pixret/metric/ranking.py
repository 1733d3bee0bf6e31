"""Rankings: where the relevant images are in them (one pass), and the figures made from that.

``locate`` finds the positions of each query's positives and junk in its ranking, refusing
ids that are negative, past the index (unless distractors are declared) or repeated;
``average_precision`` is revisitop's, ``pixel_map`` the paper's Table 2 (a positive counts
at threshold t only if its IoU is above t), ``image_map`` revisitop's mAP and mP@k.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
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
           threads: int | None = None, highs: list | None = None) -> list[np.ndarray]:
    """Position of each of ``relevant[k]`` in ranks row ``rows[k]`` (-1: not ranked).

    One pass over each row, which also refuses ids that are negative, past the index
    (unless ``distractors`` are declared), past index + distractors, or repeated (a
    repeated distractor would shift every later position). Memory and time are bound
    by the index size and K, never by the ids' values. Rows are spread over threads:
    numpy releases the GIL in these loops. ``highs``: a list to receive each row's largest id.
    """
    limit = index_size + distractors  # ids 0 .. limit - 1
    top = 1 + max((int(ids.max()) for ids in relevant if ids.size), default=0)
    threads = max(1, min(threads or 4, os.cpu_count() or 1, len(relevant)))
    results: list = [None] * len(relevant)
    row_highs: list = [-1] * len(relevant)

    def work(first: int) -> None:
        position = np.full(top, -1, np.int64)
        seen = np.zeros(limit if limit <= _TABLE_IDS else 0, bool)
        for k in range(first, len(relevant), threads):
            row = np.ascontiguousarray(ranks[rows[k]])  # a copy only of a strided row (revisitop's layout, .T)
            if row.size == 0:
                results[k] = np.full(relevant[k].shape, -1, np.int64)
                continue
            low, high = int(row.min()), int(row.max())
            row_highs[k] = high
            problem = _id_problem(low, high, index_size, distractors)
            if problem:
                results[k] = f"ranks row {int(rows[k])}: {problem}"
                continue
            duplicate = _duplicate(row, seen)
            if duplicate is not None:
                results[k] = f"ranks row {int(rows[k])}: index id {duplicate} appears twice"
                continue
            hits = np.flatnonzero(row < top)  # distractors and other ids past the relevant ones drop out here
            position[row[hits]] = hits
            results[k] = position[relevant[k]]
            position[row[hits]] = -1

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
    for result in results:
        if isinstance(result, str):
            raise InputError(result)
    if highs is not None:
        highs[:] = row_highs
    return results


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
            f"distractors={R1M_DISTRACTORS} (pixret evaluate: --distractors {R1M_DISTRACTORS})")


def _duplicate(row: np.ndarray, seen: np.ndarray):
    """An id that appears twice in ``row``, or None (a bool table when it fits, else a sort)."""
    if seen.size:
        seen[row] = True
        count = np.count_nonzero(seen)
        seen[row] = False
        if count == row.size:
            return None
    ordered = np.sort(row)
    repeated = np.flatnonzero(ordered[1:] == ordered[:-1])
    return int(ordered[repeated[0]]) if repeated.size else None


def average_precision(positions: np.ndarray, nres: int) -> float:
    """revisitop AP: trapezoids over sorted, junk-adjusted 0-based positions of the retrieved positives."""
    if nres == 0:
        return float("nan")
    r = np.asarray(positions, dtype=np.float64)
    j = np.arange(r.size, dtype=np.float64)
    p0 = np.divide(j, r, out=np.ones_like(r), where=r > 0)
    p1 = (j + 1) / (r + 1)
    return float(((p0 + p1) / 2).sum() / nres)


def _adjusted(positions: np.ndarray, junk_positions: np.ndarray) -> np.ndarray:
    """Sorted positions, each reduced by the number of junk images ranked before it."""
    positions = np.sort(positions[positions >= 0])
    junk = np.sort(junk_positions[junk_positions >= 0])
    return positions - np.searchsorted(junk, positions)


def pixel_map(positive_positions, positive_ious, junk_positions, ignored=(), thresholds=THRESHOLDS, official=True):
    """Pixel-retrieval mAP@thresholds, per the authors' code.

    Per query k: ``positive_positions[k]`` (-1 = not ranked) and ``positive_ious[k]`` of the
    protocol's positives, ``junk_positions[k]`` of its junk. At each t: positives with IoU > t
    are the positives, the other protocol positives stay in the ranking as negatives; a query
    with none is dropped from that t's mean; queries whose position is in ``ignored`` add 0
    but stay in the denominator (``official=False``: they are left out like dropped queries).
    Returns (mAP, per-threshold mAP, per-query x threshold AP with nan = dropped or ignored).
    """
    num_queries = len(positive_positions)
    aps = np.full((num_queries, len(thresholds)), np.nan)
    dropped = np.zeros(len(thresholds), np.int64)
    for q in range(num_queries):
        if q in ignored:
            if not official:
                dropped += 1
            continue
        ious = positive_ious[q]
        for k, t in enumerate(thresholds):
            above = ious > t
            nres = int(above.sum())
            if nres == 0:
                dropped[k] += 1
                continue
            aps[q, k] = average_precision(_adjusted(positive_positions[q][above], junk_positions[q]), nres)
    denominators = num_queries - dropped
    sums = np.nansum(aps, axis=0)
    per_threshold = np.divide(sums, denominators, out=np.zeros(len(thresholds)), where=denominators > 0)
    return float(per_threshold.mean()), per_threshold, aps


def image_map(positive_positions, junk_positions, kappas=KAPPAS):
    """revisitop image-level mAP and mP@k over the queries with at least one positive.

    A query none of whose positives is ranked (possible with K < database size) has
    precision 0 at every k (revisitop's code would fail on it).
    """
    num_queries = len(positive_positions)
    aps = np.full(num_queries, np.nan)
    prs = np.full((num_queries, len(kappas)), np.nan)
    for q in range(num_queries):
        nres = len(positive_positions[q])
        if nres == 0:
            continue
        pos = _adjusted(positive_positions[q], junk_positions[q])
        aps[q] = average_precision(pos, nres)
        pos1 = pos + 1
        for k, kappa in enumerate(kappas):
            kq = min(int(pos1.max()), kappa) if pos1.size else kappa
            prs[q, k] = (pos1 <= kq).sum() / kq
    valid = ~np.isnan(aps)
    if not valid.any():
        return 0.0, np.zeros(len(kappas)), aps, prs
    return float(aps[valid].mean()), prs[valid].mean(axis=0), aps, prs


def _junk_adjusted(row_position: np.ndarray, refs: References, by_query) -> np.ndarray:
    """Each row's position in its query's ranking less the junk ranked before it (-1: not ranked)."""
    out = np.full(row_position.shape, -1, np.int64)
    for rows in by_query:
        junk = np.sort(row_position[rows[~refs.positive[rows]]])
        junk = junk[junk >= 0]
        found = rows[row_position[rows] >= 0]
        out[found] = row_position[found] - np.searchsorted(junk, row_position[found])
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
    highs: list = []
    positions = locate(ranks, rank_rows, relevant, refs.index_size, distractors, highs=highs)
    row_position = np.empty(len(refs.query_ids), np.int64)
    for rows, found in zip(by_query, positions):
        row_position[rows] = found
    _warn_ranks(ranks, rank_rows, relevant, positions, refs.index_size, distractors, highs)
    return row_position, by_query


def _warn_ranks(ranks, rank_rows, relevant, positions, index_size: int, distractors: int, highs) -> None:
    """Legal rankings that are probably a mistake: 1-based ids in a truncated ranking (where no id reaches the
    index size, which the id check would catch), distractors declared that no row holds."""
    top = min(ranks.shape[1], SHIFT_TOP)
    found = sum(int(((p >= 0) & (p < top)).sum()) for p in positions)
    shifted = sum(int(np.isin(ranks[r, :top].astype(np.int64) - 1, ids).sum()) for r, ids in zip(rank_rows, relevant))
    if shifted > 2 * found + 5:
        warnings.warn(f"the ranks look 1-based: with every id - 1, {shifted} of the queries' positive and junk images "
                      f"would be in the top {top} of their rankings, against {found} as given; ids are 0-based "
                      "(revisitop's positions): subtract 1", stacklevel=4)
    if distractors and highs and max(highs) < index_size:
        warnings.warn(f"{distractors} distractors are declared, but no ranks row holds an id past the index "
                      f"({index_size} images): if these rankings are not over the index and the distractors (R1M), "
                      "drop distractors; figures with them are reported as R1M", stacklevel=4)


def perfect_positions(refs: References, row_position: np.ndarray, by_query: list) -> np.ndarray:
    """The ranking with every positive first, in the method's own order (those it did not rank after them, in row
    order), and nothing else: a perfect image-level ranking that keeps the method's order among its positives."""
    out = np.full(row_position.shape, -1, np.int64)
    for rows in by_query:
        positives = rows[refs.positive[rows]]
        ranked = np.where(row_position[positives] >= 0, row_position[positives], np.iinfo(np.int64).max)
        out[positives[np.lexsort((positives, ranked))]] = np.arange(positives.size)
    return out


def figures_from_positions(refs: References, row_position: np.ndarray, by_query: list, ious: dict,
                           official: bool = True) -> RankingFigures:
    """The figures of a ranking given as each reference row's position in its query's ranking (-1: not ranked)."""
    scored = refs.positive & refs.labelled
    image_ap, image_mp, image_aps, image_prs = image_map(
        [row_position[rows[refs.positive[rows]]] for rows in by_query],
        [row_position[rows[~refs.positive[rows]]] for rows in by_query])
    out = RankingFigures(image_ap, {k: float(v) for k, v in zip(KAPPAS, image_mp)}, image_aps, image_prs,
                         _junk_adjusted(row_position, refs, by_query)[scored])
    # pixel mAP: unlabelled positives cannot be checked against a threshold: junk there
    pixel_positions = [row_position[rows[scored[rows]]] for rows in by_query]
    pixel_junk = [row_position[rows[~scored[rows]]] for rows in by_query]
    facts = BENCHMARKS.get(refs.benchmark)
    ignored = [k for k, q in enumerate(refs.queries) if facts and q in facts.ignored_queries]
    for name, values in ious.items():
        if values is None:
            out.pixel_map[name] = out.pixel_map_per_threshold[name] = out.pixel_aps[name] = None
            continue
        iou_of_row = np.zeros(len(refs.query_ids))
        iou_of_row[scored] = values
        out.pixel_map[name], out.pixel_map_per_threshold[name], out.pixel_aps[name] = pixel_map(
            pixel_positions, [iou_of_row[rows[scored[rows]]] for rows in by_query], pixel_junk, ignored,
            official=official)
    return out
