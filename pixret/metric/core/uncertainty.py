"""How sure a figure is with 70 queries: bootstrap intervals over queries, and paired comparisons of two methods.

Every figure of an evaluation is a mean over queries taken the authors' way, so each is rebuilt here
from its per-query terms (``result["per_query"]``) as

    figure = mean over thresholds t of  sum_q value[q, t] / sum_q counted[q, t]    (0 where nothing counts)

- mean mIoU (det / seg), image mAP and mP@k: one "threshold"; a query without positives does not count;
- pixel mAP@50:5:95: ten thresholds; a query with no positive above t does not count at t (dropped);
  a query on the benchmark's ignore list counts with 0 at every t (official) or not at all (unofficial).

A resample draws the queries with replacement: a query drawn twice counts twice, its drop / ignore
status with it. The draws are a (B, Q) index matrix, turned into a (B, Q) count matrix by one
bincount; the sums of every figure in every resample are then one matrix product (no loop over
resamples); intervals are percentile intervals. A paired comparison resamples both methods with the
same draws, and tests "no difference" by swapping the two methods' terms query by query (sign flips):
over every swap of the queries where they differ when there are few, else over ``resamples`` random swaps.

Memory: the draws, swaps and products are made CHUNK_DRAWS values at a time (~40 MB whatever ``resamples``
is); what is kept is one float per resample and figure (8 MB a figure at MAX_RESAMPLES). The chunks are
pieces of one stream of random numbers, so a seed draws the very same resamples and swaps as one
(resamples, Q) draw would. Up to CHUNK_DRAWS / max(Q, columns) resamples (the default 10,000 with up to
100 queries) the figures are the very floats one product gives; beyond, BLAS may round a chunk's product
in the last bit differently from one product of every resample (it picks its kernel by the matrix's size,
as one product already did from one BLAS to another): the same seed gives the same intervals to ~1e-16,
and p-values, counted with a tolerance, the same.

numpy only, relative imports only: this file ships in the metric's Space.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .benchmarks import BENCHMARKS, CUSTOM
from .errors import InputError
from .figures import FIGURES

RESAMPLES = 10_000
MAX_RESAMPLES = 1_000_000  # more add nothing to a 95% interval
CHUNK_DRAWS = 1 << 20  # values drawn (or products summed) per pass: ~40 bytes each of arrays, whatever resamples is
LEVEL = 0.95
MARGIN = 0.05  # a query "flips" when the methods differ on it by more than this (5 points)
EXACT_LIMIT = 1 << 16  # sign flips are enumerated when 2 ** (differing queries) is at most this (or resamples)
# figure: its per-query terms in result["per_query"], in the order tables print them
PER_QUERY_KEYS = {f.key: f.per_query for f in FIGURES}
PIXEL_FIGURES = tuple(f.key for f in FIGURES if f.pixel)  # the ones the ignore list applies to
# The order in which the metric adds each figure's per-query values (the same order gives the same float):
# mean_miou's nanmean, numpy's pairwise sum over every query (0 for those without positives); image_map's
# mean over the queries with positives only, pairwise; the rest (mP@k, pixel mAP) query after query.
SUMMATION = {f.key: f.summation for f in FIGURES}
HEADLINE = tuple(f.key for f in FIGURES if f.paper_table)  # the paper's Table 1 and Table 2 figures
_TIE = 1e-9  # permuted statistics this close to the observed one count as ties (as extreme)


@dataclass(frozen=True)
class Terms:
    """One figure's per-query terms: figure = mean_t(sum_q value[q, t] / sum_q counted[q, t])."""

    value: np.ndarray  # (Q, T) float, 0 where the query does not count
    counted: np.ndarray  # (Q, T) bool: in the denominator
    ignored: np.ndarray  # (Q,) bool: on the ignore list (pixel mAP only)
    pixel: bool = False  # pixel mAP: a query's own figure is its AP over every threshold
    summation: str = "in order"  # how the metric adds the values up (SUMMATION)

    def point(self) -> float:
        """The figure, to the last bit the metric's: the same values added in the same order."""
        if self.summation == "pairwise":
            sums = self.value.sum(axis=0)  # a (Q, 1) column sums as one contiguous run, pairwise
        elif self.summation == "pairwise over counted":
            sums = self.value[self.counted[:, 0]].sum(axis=0)
        else:
            sums = np.cumsum(self.value, axis=0)[-1]  # strictly query after query
        return _figure(sums, self.counted.sum(axis=0))

    def resampled(self, counts: np.ndarray) -> np.ndarray:
        """The figure of each resample, from a (B, Q) matrix of how often each query is drawn."""
        return resampled(counts, [self])[0]

    def columns(self) -> np.ndarray:
        """(Q, 2T): value, then counted (as numbers), side by side: what a product with counts adds up."""
        return np.hstack([self.value, self.counted])

    def per_query(self) -> np.ndarray:
        """(Q,) each query's own figure, nan where it has none: its mean IoU or AP; for pixel mAP its AP
        averaged over the thresholds, 0 at those where it has no positive above t (it localised nothing
        there; the figure itself leaves it out of that threshold's mean), nan if it is ignored."""
        if self.pixel:
            return np.where(self.ignored, np.nan, self.value.mean(axis=1))
        return np.where(self.counted[:, 0], self.value[:, 0], np.nan)


def _figure(sums: np.ndarray, counts: np.ndarray):
    """Mean over the last axis of sums / counts, 0 where nothing counts (as ``ranking.pixel_map``)."""
    per_threshold = np.divide(sums, counts, out=np.zeros(np.shape(sums)), where=counts > 0)
    return float(per_threshold.mean()) if per_threshold.ndim == 1 else per_threshold.mean(axis=-1)


def _blocks(product: np.ndarray, terms: list[Terms]):
    """(sums, counts) of each of ``terms`` from a product with their columns side by side."""
    start = 0
    for t in terms:
        width = t.value.shape[1]
        yield product[:, start:start + width], product[:, start + width:start + 2 * width]
        start += 2 * width


def resampled(counts: np.ndarray, terms: list[Terms]) -> list[np.ndarray]:
    """Each figure of ``terms`` in each resample (a row of ``counts``: how often each query is drawn).

    One matrix product for them all: a few large products cost far less than many small ones.
    """
    product = counts @ np.hstack([t.columns() for t in terms])
    return [_figure(sums, counted) for sums, counted in _blocks(product, terms)]


# ---------------------------------------------------------------- per-query terms of a result
def ignore_list(benchmark: str) -> tuple[int, ...]:
    """The query ids the benchmark's pixel mAP ignores (none for "custom")."""
    if benchmark == CUSTOM:
        return ()
    if benchmark not in BENCHMARKS:
        raise InputError(f"unknown benchmark {benchmark!r}; expected one of {[*BENCHMARKS, CUSTOM]}")
    return BENCHMARKS[benchmark].ignored_queries


def figure_terms(result: dict, benchmark: str, official: bool = True) -> dict[str, Terms]:
    """{figure: Terms} of every figure ``result`` (one protocol's metric results) has per-query values for."""
    per_query = result.get("per_query") if isinstance(result, Mapping) else None
    if not isinstance(per_query, dict) or "query_id" not in per_query:
        raise InputError("a result needs per_query figures with query_id (the metric's results of one protocol)")
    query_ids = np.asarray(per_query["query_id"])
    if query_ids.size == 0:
        raise InputError("the result has no queries: there is nothing to resample")
    ignored = np.isin(query_ids, ignore_list(benchmark))
    out = {}
    for figure, key in PER_QUERY_KEYS.items():
        if per_query.get(key) is None:
            continue
        values = _matrix(per_query[key], key, query_ids)
        counted = ~np.isnan(values)
        if figure in PIXEL_FIGURES:
            scored = np.flatnonzero(ignored & counted.any(axis=1))
            if scored.size:
                raise InputError(f"per_query {key}: query {query_ids[scored[0]]} has APs but {benchmark} ignores it "
                                 "in pixel mAP: these results were not scored as this benchmark")
            counted |= ignored[:, None] & bool(official)
        pixel = figure in PIXEL_FIGURES
        if not pixel and values.shape[1] != 1:
            raise InputError(f"per_query {key}: one value per query expected, got {values.shape[1]}")
        out[figure] = Terms(np.where(counted, np.nan_to_num(values), 0.0), counted,
                            ignored if pixel else np.zeros_like(ignored), pixel, SUMMATION[figure])
    return out


def _matrix(values, key: str, query_ids: np.ndarray) -> np.ndarray:
    """(Q, T) float, nan for None: a list per query of T values, or one value per query (T = 1)."""
    if len(values) != query_ids.size:
        raise InputError(f"per_query {key} has {len(values)} entries for {query_ids.size} queries")
    rows = [row if isinstance(row, (list, tuple, np.ndarray)) else [row] for row in values]
    if len({len(row) for row in rows}) > 1:
        raise InputError(f"per_query {key}: queries have different numbers of values (thresholds)")
    try:
        matrix = np.array([[np.nan if v is None else v for v in row] for row in rows], np.float64)
    except (TypeError, ValueError):
        raise InputError(f"per_query {key}: values must be numbers or None") from None
    bad = np.flatnonzero(~((matrix >= 0) & (matrix <= 1) | np.isnan(matrix)).all(axis=1))
    if bad.size:
        raise InputError(f"per_query {key}: query {query_ids[bad[0]]} has a value outside [0, 1]")
    return matrix.reshape(query_ids.size, -1)


# ---------------------------------------------------------------- resampling
def resample_indices(num_queries: int, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """(resamples, num_queries) query positions drawn with replacement: row b is resample b."""
    _check_options(resamples, seed)
    return np.random.default_rng(seed).integers(0, num_queries, (resamples, num_queries))


def resample_counts(indices: np.ndarray) -> np.ndarray:
    """(B, Q) float: how often each query is drawn in each resample (one bincount over the index matrix)."""
    resamples, num_queries = indices.shape
    flat = (indices + num_queries * np.arange(resamples)[:, None]).ravel()
    return np.bincount(flat, minlength=resamples * num_queries).reshape(resamples, num_queries).astype(np.float64)


def _check_options(resamples, seed) -> None:
    whole = isinstance(resamples, (int, np.integer)) and not isinstance(resamples, bool)
    if not whole or not 1 <= resamples <= MAX_RESAMPLES:
        raise InputError(f"resamples must be a whole number from 1 to {MAX_RESAMPLES:,}, got {resamples!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")


def _chunks(total: int, width: int) -> list[tuple[int, int]]:
    """[start, stop) row ranges covering ``total`` rows of ``width`` values each, CHUNK_DRAWS values a range.

    Never a range of one row while there are more (BLAS computes a one-row product by another kernel, which
    rounds differently): a lone last row takes one row of the range before it.
    """
    rows = max(3, CHUNK_DRAWS // max(width, 1))
    spans = [(start, min(start + rows, total)) for start in range(0, total, rows)]
    if len(spans) > 1 and spans[-1][1] - spans[-1][0] == 1:
        (start, cut), (_, stop) = spans[-2:]
        spans[-2:] = [(start, cut - 1), (cut - 1, stop)]
    return spans


def _samples(terms: list[Terms], num_queries: int, resamples: int, seed: int) -> list[np.ndarray]:
    """Each figure of ``terms`` in each of ``resamples`` resamples drawn with ``seed`` (``resampled`` of
    ``resample_counts(resample_indices(num_queries, resamples, seed))``, drawn and summed chunk by chunk).
    One warning when the resamples are too few to be worth much."""
    _check_options(resamples, seed)
    if resamples < 1000:
        warnings.warn(f"{resamples} resamples: 95% intervals from fewer than 1,000 are rough", stacklevel=3)
    rng = np.random.default_rng(seed)
    out = [np.empty(resamples) for _ in terms]
    width = max(num_queries, sum(2 * t.value.shape[1] for t in terms))
    for start, stop in _chunks(resamples, width):  # one stream: the rows drawn so are those of one draw
        counts = resample_counts(rng.integers(0, num_queries, (stop - start, num_queries)))
        for samples, figures in zip(out, resampled(counts, terms)):
            samples[start:stop] = figures
    return out


def percentile_interval(samples: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap samples."""
    if not 0 < level < 1:
        raise InputError(f"level must be between 0 and 1 (0.95 for 95% intervals), got {level!r}")
    low, high = np.percentile(samples, [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


def bootstrap(result: dict, benchmark: str, official: bool = True, seed: int = 0,
              resamples: int = RESAMPLES) -> dict[str, tuple[float, np.ndarray]]:
    """{figure: (the figure, its value in each of ``resamples`` resamples of the queries)}."""
    terms = figure_terms(result, benchmark, official)
    samples = _samples(list(terms.values()), len(result["per_query"]["query_id"]), resamples, seed)
    return {figure: (t.point(), drawn) for (figure, t), drawn in zip(terms.items(), samples)}


def intervals(result: dict, benchmark: str, official: bool = True, seed: int = 0, resamples: int = RESAMPLES,
              level: float = LEVEL) -> dict[str, tuple[float, float]]:
    """{figure: (low, high)}: the 95% bootstrap interval over queries of each figure of ``result``
    (one protocol's metric results; ``benchmark`` the metric's config, for its ignore list)."""
    return {figure: percentile_interval(samples, level)
            for figure, (_, samples) in bootstrap(result, benchmark, official, seed, resamples).items()}


# ---------------------------------------------------------------- two methods on the same queries
@dataclass(frozen=True)
class Difference:
    """Method A against method B on one figure (A - B), over the same queries."""

    figure: str
    a: float
    b: float
    a_interval: tuple[float, float]
    b_interval: tuple[float, float]
    difference: float  # a - b
    interval: tuple[float, float]  # paired bootstrap interval of a - b
    p_value: float  # paired sign-flip test of "no difference", two-sided
    exact: bool  # the p-value enumerates every swap (else: ``resamples`` random swaps)
    query_ids: np.ndarray
    per_query: np.ndarray  # (Q,) A's minus B's per-query figure (Terms.per_query), nan where either has none
    a_better: tuple[tuple[int, float], ...]  # (query id, A - B) where A is better by more than the margin, most first
    b_better: tuple[tuple[int, float], ...]  # (query id, A - B) where B is better by more than the margin, most first
    samples: np.ndarray  # the bootstrap differences


def compare(result_a: dict, result_b: dict, benchmark: str, official: bool = True, seed: int = 0,
            resamples: int = RESAMPLES, level: float = LEVEL, margin: float = MARGIN) -> dict[str, Difference]:
    """{figure: Difference} for every figure both results (one protocol each, same queries) have.

    The bootstrap draws are those of ``intervals`` with the same seed, so A's and B's intervals here are theirs.
    """
    terms_a, terms_b = figure_terms(result_a, benchmark, official), figure_terms(result_b, benchmark, official)
    query_ids = np.asarray(result_a["per_query"]["query_id"])
    other = np.asarray(result_b["per_query"]["query_id"])
    if query_ids.shape != other.shape or (query_ids != other).any():
        raise InputError(f"the two results are not on the same queries ({query_ids.size} queries "
                         f"{_ids(query_ids)} and {other.size} queries {_ids(other)}): compare results of one split")
    if not isinstance(margin, (int, float)) or not margin >= 0:
        raise InputError(f"margin must be a non-negative number, got {margin!r}")
    figures = [f for f in PER_QUERY_KEYS if f in terms_a and f in terms_b]
    pairs = [(terms_a[f], terms_b[f]) for f in figures]
    for figure, (a, b) in zip(figures, pairs):
        if a.value.shape != b.value.shape:
            raise InputError(f"{figure}: the results have {a.value.shape[1]} and {b.value.shape[1]} thresholds")
    samples = _samples([t for pair in pairs for t in pair], query_ids.size, resamples, seed)
    tests = sign_flip_tests(pairs, resamples, seed)
    out = {}
    for k, (figure, (a, b), (p_value, exact)) in enumerate(zip(figures, pairs, tests)):
        samples_a, samples_b = samples[2 * k], samples[2 * k + 1]
        per_query = a.per_query() - b.per_query()
        out[figure] = Difference(
            figure, a.point(), b.point(), percentile_interval(samples_a, level), percentile_interval(samples_b, level),
            a.point() - b.point(), percentile_interval(samples_a - samples_b, level), p_value, exact, query_ids,
            per_query, _beyond(query_ids, per_query, margin), _beyond(query_ids, -per_query, margin, -1),
            samples_a - samples_b)
    return out


def _ids(query_ids: np.ndarray) -> str:
    shown = ", ".join(str(q) for q in query_ids[:6])
    return f"[{shown}{', ...' if query_ids.size > 6 else ''}]"


def _beyond(query_ids: np.ndarray, gains: np.ndarray, margin: float, sign: int = 1) -> tuple[tuple[int, float], ...]:
    """(query id, sign * gain) where the gain exceeds the margin, largest gain first (ties: by query id)."""
    found = np.flatnonzero(np.nan_to_num(gains, nan=-np.inf) > margin)
    order = found[np.lexsort((query_ids[found], -gains[found]))]
    return tuple((int(query_ids[k]), sign * float(gains[k])) for k in order)


def sign_flip_tests(pairs: list[tuple[Terms, Terms]], resamples: int = RESAMPLES,
                    seed: int = 0) -> list[tuple[float, bool]]:
    """(two-sided p-value, exact) of "A and B do not differ" for each (A, B) pair of one figure's terms: the
    share of swaps of the two methods' terms, query by query, whose |A - B| is at least the observed one.

    Only queries where the terms differ can change anything: with n of them, every one of the 2^n swaps
    is counted when 2^n <= max(resamples, EXACT_LIMIT) (exact), else ``resamples`` random swaps of every
    query, the same for every pair ((1 + hits) / (1 + resamples), as extreme as observed).
    """
    out, random = [], []
    for k, (a, b) in enumerate(pairs):
        differ = np.flatnonzero((a.value != b.value).any(axis=1) | (a.counted != b.counted).any(axis=1))
        if 2 ** differ.size <= max(resamples, EXACT_LIMIT):
            swaps = 2 ** differ.size
            hits = sum(_hits(_swaps(start, stop, differ.size), differ, [(a, b)])[0]
                       for start, stop in _chunks(swaps, max(differ.size, 2 * a.value.shape[1])))
            out.append((hits / swaps, True))
        else:
            out.append(None)
            random.append(k)
    if random:  # its own stream: the bootstrap's draws stay those of intervals()
        num_queries = pairs[0][0].value.shape[0]
        rng = np.random.default_rng([seed, 1])
        hits = np.zeros(len(random), np.int64)
        width = max(num_queries, sum(2 * pairs[k][0].value.shape[1] for k in random))
        for start, stop in _chunks(resamples, width):  # pieces of one stream, as the bootstrap's draws
            signs = rng.integers(0, 2, (stop - start, num_queries)).astype(np.float64)
            hits += _hits(signs, np.arange(num_queries), [pairs[k] for k in random])
        for k, count in zip(random, hits):
            out[k] = ((1 + int(count)) / (1 + resamples), False)
    return out


def _swaps(start: int, stop: int, count: int) -> np.ndarray:
    """Rows ``start`` .. ``stop`` of the 2^count swaps, as numbers: bit j of row r swaps query j."""
    return ((np.arange(start, stop)[:, None] >> np.arange(count)) & 1).astype(np.float64)


def _hits(signs: np.ndarray, rows: np.ndarray, pairs: list[tuple[Terms, Terms]]) -> list[int]:
    """For each (A, B) pair: the rows of ``signs`` (1 = swap the query ``rows[j]``) giving |A - B| at least
    the observed one (ties within _TIE count). One matrix product for every pair."""
    moved = [Terms(b.value[rows] - a.value[rows], b.counted[rows].astype(np.float64) - a.counted[rows], a.ignored)
             for a, b in pairs]  # what swapping a query moves from B's sums into A's
    product = signs @ np.hstack([m.columns() for m in moved])
    hits = []
    for (a, b), (value_shift, count_shift) in zip(pairs, _blocks(product, moved)):
        sums_a, sums_b = a.value.sum(axis=0), b.value.sum(axis=0)
        counts_a, counts_b = a.counted.sum(axis=0), b.counted.sum(axis=0)
        statistic = (_figure(sums_a + value_shift, counts_a + count_shift)
                     - _figure(sums_b - value_shift, counts_b - count_shift))
        observed = abs(_figure(sums_a[None], counts_a[None]) - _figure(sums_b[None], counts_b[None]))[0]
        hits.append(int(np.count_nonzero(np.abs(statistic) >= observed - _TIE)))
    return hits
