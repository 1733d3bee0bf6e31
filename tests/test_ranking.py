"""ranking's one-pass locate and its every-query-at-once figures against slow, literal per-row / per-query loops.

The loops are the straightforward forms of the same rules (the ones ranking.py used before it worked on every
query at once): locate must refuse exactly what they refuse, with the same message for the same first bad row,
and the figures must equal theirs to the last bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pixret.metric.core import ranking
from pixret.metric.core.errors import InputError
from pixret.metric.core.figures import KAPPAS, THRESHOLDS
from pixret.metric.core.references import References


# ---------------------------------------------------------------- locate
def slow_locate(ranks, rows, relevant, index_size, distractors=0):
    """Row by row: every id's bounds (negative first), then a repeated id (the smallest), then positions."""
    limit = index_size + distractors
    out, past = [], []
    for r, ids in zip(rows, relevant):
        row = [int(v) for v in ranks[r]]
        if row:
            problem = ranking._id_problem(min(row), max(row), index_size, distractors)
            if problem:
                raise InputError(f"ranks row {r}: {problem}")
        repeated = sorted({v for v in row if row.count(v) > 1})
        if repeated:
            raise InputError(f"ranks row {r}: index id {repeated[0]} appears twice")
        assert all(0 <= v < limit for v in row)
        where = {v: p for p, v in enumerate(row)}
        out.append(np.array([where.get(int(i), -1) for i in ids], np.int64))
        past.append(any(v >= index_size for v in row) if distractors else False)
    return out, past


def _outcome(fn):
    try:
        return fn()
    except InputError as err:
        return str(err)


@st.composite
def rankings(draw):
    """Rankings of an index and maybe distractors, most rows fine, some with a bad id or a repeat."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    index_size = int(rng.integers(1, 30))
    distractors = int(rng.choice([0, 0, int(rng.integers(1, 20))]))
    limit = index_size + distractors
    num_rows = int(rng.integers(1, 6))
    k = int(rng.integers(0, limit + 1))
    ranks = np.stack([rng.permutation(limit)[:k] for _ in range(num_rows)]).reshape(num_rows, k)
    for _ in range(int(rng.integers(0, 3))):  # spoil a few entries
        if k == 0:
            break
        r, c = int(rng.integers(num_rows)), int(rng.integers(k))
        ranks[r, c] = int(rng.choice([-1, -int(rng.integers(1, 2 * limit + 2)), limit, limit + int(rng.integers(50)),
                                      ranks[r, int(rng.integers(k))], index_size, int(rng.integers(limit))]))
    if draw(st.booleans()) and k and (ranks >= 0).all():  # 1-based: the hint
        ranks = ranks + 1
    relevant = [rng.choice(index_size, int(rng.integers(0, index_size + 1)), replace=False) for _ in range(num_rows)]
    return ranks, relevant, index_size, distractors


@settings(max_examples=400, deadline=None)
@given(problem=rankings(), dtype=st.sampled_from([np.int64, np.int32, np.int16]), table=st.booleans(),
       transposed=st.booleans())
def test_locate_equals_the_literal_loop(problem, dtype, table, transposed):
    """Same positions, same refusals with the same message for the same (first bad) row;
    with a table (one scatter) or by sorting."""
    ranks, relevant, index_size, distractors = problem
    ranks = ranks.astype(dtype)
    if transposed:  # revisitop's (K, queries) layout read as a view
        ranks = np.ascontiguousarray(ranks.T).T
    rows = np.arange(ranks.shape[0])
    past: list = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ranking, "_TABLE_IDS", 1 << 24 if table else 0)
        ours = _outcome(lambda: ranking.locate(ranks, rows, relevant, index_size, distractors, past))
    expected = _outcome(lambda: slow_locate(ranks, rows, relevant, index_size, distractors))
    if isinstance(expected, str):
        assert ours == expected
    else:
        assert not isinstance(ours, str), ours
        assert [p.tolist() for p in ours] == [p.tolist() for p in expected[0]]
        assert past == expected[1]


@pytest.mark.parametrize("table", [True, False])
def test_locate_refuses_ids_numpy_would_wrap(table, monkeypatch):
    """A negative id would index the table from its end, a uint64 id past 2**63 would wrap to a negative one:
    both are refused naming the row and the id, whatever the table."""
    monkeypatch.setattr(ranking, "_TABLE_IDS", 1 << 24 if table else 0)
    ranks = np.array([[0, 1, 2, 3], [3, 2, 1, -4]], np.int64)
    with pytest.raises(InputError, match=r"^ranks row 1: negative index id -4$"):
        ranking.locate(ranks, np.arange(2), [np.array([1]), np.array([1])], index_size=4)
    huge = np.array([[0, 1, 2, 3], [3, 2, 2**64 - 1, 0]], np.uint64)
    with pytest.raises(InputError, match=rf"^ranks row 1: index id {2**64 - 1} is not in the index \(4 images"):
        ranking.locate(huge, np.arange(2), [np.array([1]), np.array([1])], index_size=4)


def test_locate_names_the_rows_given():
    """The error names the ranks row (a subset's rows, or the query's row of a full ranking), not the loop's count."""
    ranks = np.array([[0, 1, 2], [2, 2, 1], [0, 1, 1]])
    with pytest.raises(InputError, match=r"^ranks row 2: index id 1 appears twice$"):
        ranking.locate(ranks, np.array([0, 2, 1]), [np.array([0])] * 3, index_size=3)


def test_locate_with_a_short_ranking_of_a_large_table():
    """Top-k rankings over R1M's ids: the table is unmarked id by id, later rows see a clean table."""
    rng = np.random.default_rng(3)
    limit = 4993 + 1_001_001
    ranks = np.stack([rng.choice(limit, 100, replace=False) for _ in range(5)])
    ranks[3, 7] = ranks[3, 50]
    relevant = [ranks[r, [5, 60]] for r in range(5)]
    with pytest.raises(InputError, match=rf"^ranks row 3: index id {ranks[3, 7]} appears twice$"):
        ranking.locate(ranks, np.arange(5), relevant, 4993, 1_001_001)
    ranks[3, 7] = next(v for v in range(limit) if v not in set(ranks[3].tolist()))
    found = ranking.locate(ranks, np.arange(5), relevant, 4993, 1_001_001)
    assert [p.tolist() for p in found] == [[5, 60]] * 5


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_shifted_ids_are_counted_row_by_row(seed):
    """The 1-based warning's count: ids - 1 of each row's top found among that row's relevant ids."""
    rng = np.random.default_rng(seed)
    index_size = int(rng.integers(1, 40))
    heads = rng.integers(-1, index_size + 5, (int(rng.integers(0, 6)), int(rng.integers(0, 12))))
    relevant = [rng.choice(index_size, int(rng.integers(0, index_size + 1)), replace=False) for _ in heads]
    assert ranking._count_pairs(heads, relevant, index_size) == sum(int(np.isin(h, ids).sum())
                                                                   for h, ids in zip(heads, relevant))


# ---------------------------------------------------------------- pixel and image mAP
def loop_adjusted(positions, junk_positions):
    positions = np.sort(positions[positions >= 0])
    junk = np.sort(junk_positions[junk_positions >= 0])
    return positions - np.searchsorted(junk, positions)


def loop_pixel_map(positive_positions, positive_ious, junk_positions, ignored=(), official=True):
    """One query and threshold at a time, each AP by ranking.average_precision."""
    num_queries = len(positive_positions)
    aps = np.full((num_queries, len(THRESHOLDS)), np.nan)
    dropped = np.zeros(len(THRESHOLDS), np.int64)
    for q in range(num_queries):
        if q in ignored:
            if not official:
                dropped += 1
            continue
        for k, t in enumerate(THRESHOLDS):
            above = positive_ious[q] > t
            nres = int(above.sum())
            if nres == 0:
                dropped[k] += 1
                continue
            aps[q, k] = ranking.average_precision(loop_adjusted(positive_positions[q][above], junk_positions[q]),
                                                  nres)
    denominators = num_queries - dropped
    per_threshold = np.divide(np.nansum(aps, axis=0), denominators, out=np.zeros(len(THRESHOLDS)),
                              where=denominators > 0)
    return float(per_threshold.mean()), per_threshold, aps


def loop_image_map(positive_positions, junk_positions):
    num_queries = len(positive_positions)
    aps = np.full(num_queries, np.nan)
    prs = np.full((num_queries, len(KAPPAS)), np.nan)
    for q in range(num_queries):
        nres = len(positive_positions[q])
        if nres == 0:
            continue
        pos = loop_adjusted(positive_positions[q], junk_positions[q])
        aps[q] = ranking.average_precision(pos, nres)
        for k, kappa in enumerate(KAPPAS):
            kq = min(int(pos.max()) + 1, kappa) if pos.size else kappa
            prs[q, k] = (pos + 1 <= kq).sum() / kq
    valid = ~np.isnan(aps)
    if not valid.any():
        return 0.0, np.zeros(len(KAPPAS)), aps, prs
    return float(aps[valid].mean()), prs[valid].mean(axis=0), aps, prs


@st.composite
def positions(draw):
    """Per query: positives' positions (-1: not ranked) and IoUs (many exactly at a threshold), junk positions."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    num_queries = int(rng.integers(1, 9))
    k = int(rng.integers(0, 300))
    scale = int(rng.choice([1, 1, 1, 2**40, 2**52]))  # huge positions (2**52: keys of (query, position) by rank)
    positive, ious, junk = [], [], []
    for _ in range(num_queries):
        n, n_junk = int(rng.integers(0, 40)) * (rng.random() < 0.85), int(rng.integers(0, 12))
        places = rng.permutation(k + n + n_junk)[:n + n_junk]
        places = np.where(places < k, places * scale, -1)  # past K: not ranked
        positive.append(places[:n] if rng.random() > 0.1 else np.full(n, -1))
        junk.append(places[n:])
        values = rng.random(n)
        at = rng.random(n) < 0.4
        values[at] = rng.choice(np.concatenate([THRESHOLDS, [0.0, 1.0]]), int(at.sum()))  # ties at a threshold
        ious.append(values)
    ignored = tuple(int(q) for q in rng.choice(num_queries, int(rng.integers(0, 3))))
    return positive, ious, junk, ignored


def _same(ours, theirs):
    assert ours[0] == theirs[0]
    for a, b in zip(ours[1:], theirs[1:]):
        assert a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


@settings(max_examples=400, deadline=None)
@given(problem=positions(), official=st.booleans())
def test_pixel_and_image_map_equal_the_loops_to_the_bit(problem, official):
    positive, ious, junk, ignored = problem
    _same(ranking.pixel_map(positive, ious, junk, ignored, official=official),
          loop_pixel_map(positive, ious, junk, ignored, official))
    _same(ranking.image_map(positive, junk), loop_image_map(positive, junk))


def test_thresholds_are_the_authors_floats():
    """IoU > t with t exactly the authors' thresh / 100: a tie at a threshold falls on the same side."""
    assert [float(t) for t in THRESHOLDS] == [thresh / 100 for thresh in range(50, 100, 5)]


def test_pixel_map_of_nothing_ranked_and_no_positive():
    """Empty rankings give AP 0 where a positive is above t; queries without any positive are dropped."""
    empty = [np.array([], np.int64)] * 3
    per_query = ranking.pixel_map([np.array([-1, -1]), np.array([], np.int64), np.array([0])],
                                  [np.array([0.9, 0.3]), np.array([]), np.array([0.7])], empty)
    _same(per_query, loop_pixel_map([np.array([-1, -1]), np.array([], np.int64), np.array([0])],
                                    [np.array([0.9, 0.3]), np.array([]), np.array([0.7])], empty))
    assert per_query[1][0] == 0.5 and per_query[1][-1] == 0.0  # t=0.5: (0 + 1) / 2; t=0.95: both dropped
    assert np.isnan(per_query[2][1]).all()


def test_pixel_map_refuses_misaligned_ious():
    with pytest.raises(ValueError, match="one IoU per positive position"):
        ranking.pixel_map([np.array([0, 1]), np.array([2])], [np.array([0.9]), np.array([0.9, 0.8])],
                          [np.array([], np.int64)] * 2)


# ---------------------------------------------------------------- reference rows
def _references(rng, subset: bool) -> tuple[References, np.ndarray, list]:
    """Reference rows of a few queries (positives labelled or not, junk), and each row's position."""
    query_ids, index_ids, positive, labelled, position = [], [], [], [], []
    num_queries = int(rng.integers(1, 6))
    for q in range(num_queries):
        n = int(rng.integers(0, 25))
        ids = rng.choice(60, n, replace=False)
        query_ids += [q] * n
        index_ids += ids.tolist()
        positive += (rng.random(n) < 0.7).tolist()
        labelled += (rng.random(n) < 0.9).tolist()
        k = int(rng.integers(0, 60))
        order = rng.permutation(60)
        where = {int(i): p for p, i in enumerate(order[:k])}
        position += [where.get(int(i), -1) for i in ids]
    queries = rng.permutation(num_queries)[:max(1, num_queries - 1)] if subset else np.arange(num_queries)
    masks = [{"size": [2, 2], "counts": b"04"} if p and lab else None for p, lab in zip(positive, labelled)]
    refs = References("custom", "medium", np.array(query_ids, np.int64), np.array(index_ids, np.int64),
                      np.array(positive, bool), np.array(["easy" if p else "junk" for p in positive]), masks, queries,
                      num_queries, 60, subset)
    by_query = [np.flatnonzero(refs.query_ids == q) for q in refs.queries]
    return refs, np.array(position, np.int64), by_query


def loop_junk_adjusted(row_position, refs, by_query):
    out = np.full(row_position.shape, -1, np.int64)
    for rows in by_query:
        junk = np.sort(row_position[rows[~refs.positive[rows]]])
        junk = junk[junk >= 0]
        found = rows[row_position[rows] >= 0]
        out[found] = row_position[found] - np.searchsorted(junk, row_position[found])
    return out


def loop_perfect_positions(refs, row_position, by_query):
    out = np.full(row_position.shape, -1, np.int64)
    for rows in by_query:
        positives = rows[refs.positive[rows]]
        ranked = np.where(row_position[positives] >= 0, row_position[positives], np.iinfo(np.int64).max)
        out[positives[np.lexsort((positives, ranked))]] = np.arange(positives.size)
    return out


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), subset=st.booleans(), official=st.booleans())
def test_figures_of_reference_rows_equal_the_loops(seed, subset, official):
    """Junk-adjusted positions, the perfect ranking, and the figures from rows (unlabelled positives: junk for
    pixel mAP) equal per-query loops over the same rows."""
    rng = np.random.default_rng(seed)
    refs, row_position, by_query = _references(rng, subset)
    assert np.array_equal(ranking._junk_adjusted(row_position, refs, by_query),
                          loop_junk_adjusted(row_position, refs, by_query))
    assert np.array_equal(ranking.perfect_positions(refs, row_position, by_query),
                          loop_perfect_positions(refs, row_position, by_query))
    scored = refs.positive & refs.labelled
    ious = {"det": rng.choice(np.concatenate([THRESHOLDS, rng.random(8)]), int(scored.sum())), "seg": None}
    figures = ranking.figures_from_positions(refs, row_position, by_query, ious, official)
    iou_of_row = np.zeros(len(refs.query_ids))
    iou_of_row[scored] = ious["det"]
    _same((figures.pixel_map["det"], figures.pixel_map_per_threshold["det"], figures.pixel_aps["det"]),
          loop_pixel_map([row_position[rows[scored[rows]]] for rows in by_query],
                         [iou_of_row[rows[scored[rows]]] for rows in by_query],
                         [row_position[rows[~scored[rows]]] for rows in by_query], official=official))
    assert figures.pixel_map["seg"] is None
    image = loop_image_map([row_position[rows[refs.positive[rows]]] for rows in by_query],
                           [row_position[rows[~refs.positive[rows]]] for rows in by_query])
    _same((figures.image_map, np.array(list(figures.image_mp.values())), figures.image_aps, figures.image_precisions),
          image)
