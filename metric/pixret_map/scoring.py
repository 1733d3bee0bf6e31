"""The evaluation of PROxford / PRParis as plain functions (numpy + pycocotools).

``evaluate_pixel_retrieval`` is what the metric's ``compute`` returns. It runs in
three steps, each usable alone:

    check_references   the split: protocol, benchmark identity, coverage, masks
    pair_ious          detection and segmentation IoU of each scored (prediction, reference) pair
    ranking_figures    pixel mAP@50:5:95 and image mAP / mP@k from the rankings

and the figures themselves: ``mean_miou`` (Table 1), ``locate`` (positions of the
relevant ids in the rankings, one pass), ``average_precision`` (revisitop's),
``pixel_map`` (Table 2) and ``image_map``. Defaults equal the authors' released
evaluation, quirks included (see the metric card).
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from pycocotools import mask as cocomask

if __package__:
    from . import rle
    from .benchmarks import BENCHMARKS, CUSTOM, DIFFICULTIES, POSITIVE_DIFFICULTIES, R1M_DISTRACTORS
else:  # app.py imports the metric folder's files as top-level modules
    import rle
    from benchmarks import BENCHMARKS, CUSTOM, DIFFICULTIES, POSITIVE_DIFFICULTIES, R1M_DISTRACTORS

THRESHOLDS = np.arange(50, 100, 5) / 100  # 0.50 ... 0.95, the same floats as the authors' thresh / 100
KAPPAS = (1, 5, 10)
PREDICTION_KEYS = ("mask", "segmentation", "bbox", "query_id", "index_id", "score")
_TABLE_IDS = 1 << 24  # rank rows are checked for duplicates with a table up to this many ids, else by sorting


# ---------------------------------------------------------------- references
@dataclass
class References:
    """One protocol split, checked: per-row arrays and what the figures average over."""

    benchmark: str  # "proxford", "prparis" or "custom"
    protocol: str
    query_ids: np.ndarray  # per row
    index_ids: np.ndarray
    positive: np.ndarray  # bool
    masks: list  # per row: pycocotools RLE (counts as bytes) of a positive's mask, or None
    queries: np.ndarray  # the query ids averaged over, sorted
    num_queries: int  # of the benchmark (rows of a full ranking)
    index_size: int | None
    subset: bool

    @property
    def labelled(self) -> np.ndarray:
        return np.asarray([m is not None for m in self.masks], bool)

    def where(self, row: int) -> str:
        return f"references row {row} (pair ({self.query_ids[row]}, {self.index_ids[row]}))"


_REFERENCE_COLUMNS = ("query_id", "index_id", "difficulty", "positive", "mask")


def _columns(references, names) -> dict:
    """Columns of a split given as a datasets.Dataset or as a list of row dicts."""
    if hasattr(references, "column_names"):
        missing = [c for c in names if c not in references.column_names]
        if missing:
            raise ValueError(f"references lack the columns {missing}: pass a split of the dataset's pairs config")
        return references.select_columns(list(names)).to_dict()
    out = {c: [] for c in names}
    for r, row in enumerate(references):
        if not isinstance(row, dict) or any(c not in row for c in names):
            raise ValueError(f"references row {r}: expected a row of the dataset's pairs config with {list(names)}")
        for c in names:
            out[c].append(row[c])
    return out


def _int_column(values, what: str) -> np.ndarray:
    try:
        array = np.asarray(values)
        if array.dtype.kind not in "iu":
            raise TypeError
        return array.astype(np.int64)
    except (TypeError, ValueError, OverflowError):
        bad = next(r for r, v in enumerate(values) if not isinstance(v, (int, np.integer)) or isinstance(v, bool)
                   or not -2**63 <= v < 2**63)
        raise ValueError(f"references row {bad}: {what} must be an integer, got {values[bad]!r}") from None


def protocol_of(difficulty: np.ndarray, positive: np.ndarray) -> str:
    """The revisitop protocol a pairs split follows, from its difficulty and positive columns."""
    bad = np.flatnonzero(~np.isin(difficulty, DIFFICULTIES))
    if bad.size:
        raise ValueError(f"references row {bad[0]}: unknown difficulty {difficulty[bad[0]]!r}")
    for protocol, kinds in POSITIVE_DIFFICULTIES.items():
        if np.array_equal(np.isin(difficulty, kinds), positive):
            return protocol
    raise ValueError("references mix protocols: their positive flags fit none of easy / medium / hard "
                     "(pass one split of the pairs config)")


def check_references(references, benchmark: str, queries=None, index_size: int | None = None,
                     num_queries: int | None = None) -> References:
    """Check a pairs split and bring it to arrays.

    ``benchmark``: "proxford" / "prparis" (the references must be that benchmark's, by
    their query names, and cover all its queries) or "custom" (data in the same format,
    e.g. the demo world: queries 0 .. num_queries - 1, default the largest id + 1).
    ``queries``: average over this subset of query ids only (the references must hold
    exactly these queries). Raises ValueError naming the row and pair.
    """
    facts = BENCHMARKS.get(benchmark)
    if facts is None and benchmark != CUSTOM:
        raise ValueError(f"unknown benchmark {benchmark!r}; expected one of {[*BENCHMARKS, CUSTOM]}")
    if len(references) == 0:
        raise ValueError("references are empty: pass a split of the dataset's pairs config")
    names = _REFERENCE_COLUMNS + (("query_name",) if facts else ())
    try:
        columns = _columns(references, names)
    except ValueError as err:
        if facts and "query_name" in str(err):
            raise ValueError(f"{err} (the query names tell which benchmark the references are)") from None
        raise
    query_ids = _int_column(columns["query_id"], "query_id")
    index_ids = _int_column(columns["index_id"], "index_id")
    positive_values = columns["positive"]
    bad = next((r for r, v in enumerate(positive_values) if not isinstance(v, (bool, np.bool_))), None)
    if bad is not None:
        raise ValueError(f"references row {bad}: positive must be true or false, got {positive_values[bad]!r}")
    positive = np.asarray(positive_values, bool)
    protocol = protocol_of(np.asarray(columns["difficulty"], object), positive)

    if facts:
        num_queries_expected, index_size_expected = facts.num_queries, facts.index_size
        for what, given, expected in (("num_queries", num_queries, num_queries_expected),
                                      ("index_size", index_size, index_size_expected)):
            if given is not None and given != expected:
                raise ValueError(f"{what}={given}, but {facts.pretty_name} has {expected}")
        num_queries, index_size = num_queries_expected, index_size_expected
    else:
        num_queries = int(query_ids.max()) + 1 if num_queries is None else int(num_queries)
    where = _Rows(query_ids, index_ids)
    bad = np.flatnonzero((query_ids < 0) | (query_ids >= num_queries))
    if bad.size:
        raise ValueError(f"{where(bad[0])}: unknown query id {query_ids[bad[0]]} (queries 0..{num_queries - 1})")
    bad = np.flatnonzero((index_ids < 0) | (index_ids >= (index_size if index_size is not None else 2**62)))
    if bad.size:
        raise ValueError(f"{where(bad[0])}: unknown index id {index_ids[bad[0]]}"
                         + (f" (the index has {index_size} images)" if index_size is not None else ""))
    if facts:
        _check_identity(facts, query_ids, columns["query_name"], where)
    pair_key = query_ids * (int(index_ids.max()) + 1) + index_ids
    unique_keys, first = np.unique(pair_key, return_index=True)
    if unique_keys.size != pair_key.size:
        row = int(np.setdiff1d(np.arange(pair_key.size), first)[0])
        raise ValueError(f"{where(row)}: this pair appears twice")

    present = np.unique(query_ids)
    subset = queries is not None
    if subset:
        wanted = np.unique(np.asarray(_int_column(list(queries), "a query id in queries")))
        if wanted.size == 0 or wanted.min() < 0 or wanted.max() >= num_queries:
            raise ValueError(f"queries must be query ids 0..{num_queries - 1}, got {list(queries)}")
        extra, missing = np.setdiff1d(present, wanted), np.setdiff1d(wanted, present)
        if extra.size or missing.size:
            raise ValueError("references do not hold exactly the queries asked for: "
                             + (f"extra {extra.tolist()[:10]} " if extra.size else "")
                             + (f"missing {missing.tolist()[:10]}" if missing.size else ""))
    else:
        missing = np.setdiff1d(np.arange(num_queries), present)
        if missing.size:
            name = facts.pretty_name if facts else "the data"
            raise ValueError(f"references lack queries {missing.tolist()[:10]}"
                             + (" ..." if missing.size > 10 else "")
                             + f" ({present.size} of {num_queries} queries of {name}): figures would be averaged "
                             "over a subset; pass the whole split, or ask for a subset explicitly with "
                             "queries=[...] (pixret evaluate: --queries)")
        wanted = present
    if facts:
        _check_row_counts(facts, protocol, query_ids, positive, wanted)

    masks = list(columns["mask"])
    positive_rows = np.flatnonzero(positive)
    given = [r for r in positive_rows if masks[r] is not None]
    coco, problems = rle.check([masks[r] for r in given])
    for r, problem in zip(given, problems):
        if problem:
            raise ValueError(f"{where(r)}: mask: {problem}")
    checked: list = [None] * len(masks)
    for r, c in zip(given, coco):
        checked[r] = c
    return References(benchmark, protocol, query_ids, index_ids, positive, checked, wanted, num_queries,
                      index_size, subset)


class _Rows:
    """Names a row of the references with its pair."""

    def __init__(self, query_ids, index_ids):
        self.query_ids, self.index_ids = query_ids, index_ids

    def __call__(self, row) -> str:
        return f"references row {int(row)} (pair ({self.query_ids[row]}, {self.index_ids[row]}))"


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
        raise ValueError(f"these references are {others[0].pretty_name} (query {query_ids[row]} is "
                         f"{names[row]!r}), but the benchmark asked for is {facts.pretty_name}: load the metric "
                         f"with config {others[0].name!r} (pixret evaluate: --benchmark {others[0].name})")
    raise ValueError(f"{where(row)}: query {query_ids[row]} is {names[row]!r}, but {facts.pretty_name}'s query "
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
            raise ValueError(f"references hold {positives[q]} positive and {junk[q]} junk rows for query {q}; "
                             f"{facts.pretty_name} {protocol} has {expected[0]} and {expected[1]}: pass the "
                             "whole split (rows filtered out change the figures)")


# ---------------------------------------------------------------- predictions and IoUs
def check_predictions(predictions, refs: References, rows: np.ndarray):
    """Masks and boxes of the predictions on reference rows ``rows`` (the scored positives).

    Returns (masks: pycocotools RLE or None per row, boxes: (n, 4) with nan where there is no box).
    Every prediction (junk rows included) is checked for its keys; raises ValueError naming
    the row and pair.
    """
    if len(predictions) != len(refs.query_ids):
        raise ValueError(f"{len(predictions)} predictions for {len(refs.query_ids)} references: "
                         "they must align 1:1 with the rows of the split")
    masks: list = [None] * len(rows)
    boxes = np.full((len(rows), 4), np.nan)
    scored = {int(r): k for k, r in enumerate(rows)}
    given_masks, given_rows = [], []
    for r, pred in enumerate(predictions):
        if pred is None:
            continue
        where = refs.where(r)
        mask, box = _prediction_fields(pred, where, refs.query_ids[r], refs.index_ids[r])
        if mask is not None:
            given_masks.append(mask)
            given_rows.append(r)
        if box is not None:
            box = _box(box, where)
            if r in scored:
                boxes[scored[r]] = box
    coco, problems = rle.check(given_masks)
    for r, c, problem in zip(given_rows, coco, problems):
        if problem:
            raise ValueError(f"predictions row {r} (pair ({refs.query_ids[r]}, {refs.index_ids[r]})): mask: {problem}")
        if r in scored:
            expected = refs.masks[r]["size"]
            if c["size"] != expected:
                raise ValueError(f"predictions row {r} (pair ({refs.query_ids[r]}, {refs.index_ids[r]})): mask size "
                                 f"{c['size']} differs from the reference mask size {expected} (height, width)")
            masks[scored[r]] = c
    return masks, boxes


def _prediction_fields(pred, where: str, query_id: int, index_id: int):
    """(mask, bbox) of one prediction dict, after checking its keys and pair."""
    where = where.replace("references", "predictions")
    if not isinstance(pred, dict):
        raise ValueError(f"{where}: expected a dict with 'mask' and/or 'bbox' (or None), got {type(pred).__name__}")
    unknown = [k for k in pred if k not in PREDICTION_KEYS]
    if unknown:
        if {"size", "counts"} <= set(pred):
            raise ValueError(f"{where}: this looks like a bare RLE; a prediction is {{'mask': rle, 'bbox': ...}}")
        raise ValueError(f"{where}: unknown key {unknown[0]!r}; accepted keys: mask (COCO alias: segmentation), "
                         "bbox ([x, y, w, h]), query_id, index_id, score (ignored)")
    if "mask" in pred and "segmentation" in pred:
        raise ValueError(f"{where}: has both 'mask' and 'segmentation' (the same field): keep one")
    for key, expected in (("query_id", query_id), ("index_id", index_id)):
        if key in pred and pred[key] is not None and _as_int(pred[key]) != expected:
            raise ValueError(f"{where}: its {key} is {pred[key]!r} but the row is pair ({query_id}, {index_id}): "
                             "predictions must align with the reference rows (pixret: align(by_pair, split))")
    return pred.get("mask", pred.get("segmentation")), pred.get("bbox")


def _as_int(value):
    try:
        return int(value) if float(value) == int(value) and not isinstance(value, bool) else None
    except (TypeError, ValueError, OverflowError):
        return None


def _box(box, where: str) -> np.ndarray:
    where = where.replace("references", "predictions")
    try:
        if isinstance(box, (str, bytes, dict)):
            raise TypeError
        array = np.asarray([float(v) for v in box], np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: bbox must be [x, y, w, h] numbers, got {box!r}") from None
    if array.shape != (4,) or not np.isfinite(array).all() or (array[2:] < 0).any():
        raise ValueError(f"{where}: bbox must be [x, y, w, h] with w, h >= 0, got {box!r}")
    return array


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of [x, y, w, h] boxes (pixel boxes from toBbox: w counts pixels)."""
    iw = np.clip(np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def pair_ious(masks: list, boxes: np.ndarray, truths: list) -> tuple[np.ndarray, np.ndarray]:
    """Detection and segmentation IoU of each pair of checked pycocotools RLEs.

    ``masks[k]`` / ``boxes[k]`` (nan: none) are the prediction, ``truths[k]`` the ground truth.
    A given box is the detection; otherwise the predicted mask's tight box; nothing gives 0.
    """
    det, seg = np.zeros(len(truths)), np.zeros(len(truths))
    if not truths:
        return det, seg
    truth_boxes = cocomask.toBbox(truths)
    with_mask = [k for k, m in enumerate(masks) if m is not None]
    if with_mask:
        seg[with_mask] = [cocomask.iou([masks[k]], [truths[k]], [0])[0, 0] for k in with_mask]
        det[with_mask] = box_iou(cocomask.toBbox([masks[k] for k in with_mask]), truth_boxes[with_mask])
    with_box = np.flatnonzero(~np.isnan(boxes[:, 0]))
    det[with_box] = box_iou(boxes[with_box], truth_boxes[with_box])
    return det, seg


def mean_miou(query_ids: np.ndarray, ious: np.ndarray, queries: np.ndarray):
    """Mean over ``queries`` of the mean IoU over each query's positives (queries without positives: nan, left out)."""
    size = int(queries.max()) + 1
    sums = np.bincount(query_ids, weights=ious, minlength=size)[queries]
    counts = np.bincount(query_ids, minlength=size)[queries]
    per_query = np.divide(sums, counts, out=np.full(queries.size, np.nan), where=counts > 0)
    return (float(np.nanmean(per_query)) if (counts > 0).any() else 0.0), per_query


def _warn_suspicious(refs: References, rows, masks, boxes, det) -> None:
    """Legal input that is probably a mistake: say what it looks like."""
    has_mask = np.asarray([m is not None for m in masks], bool)
    has_box = ~np.isnan(boxes[:, 0])
    n = len(rows)
    if n and not (has_mask | has_box).any():
        warnings.warn(f"every prediction on the {n} scored positive pairs is empty (no mask, no bbox): "
                      "every IoU is 0", stacklevel=3)
        return
    if has_mask.any() and n:
        empty = np.asarray([m is not None and cocomask.area(m) == 0 for m in masks], bool)
        if empty[has_mask].all():
            warnings.warn(f"every predicted mask ({int(has_mask.sum())}) is empty (zero area): every segmentation "
                          "IoU is 0", stacklevel=3)
    missing = ~(has_mask | has_box)
    if missing.any() and (~missing).any():
        warnings.warn(f"{int(missing.sum())} of {n} scored positive pairs have no prediction: they count as IoU 0 "
                      "in mean mIoU and as not localised in pixel mAP", stacklevel=3)
    box_only = has_box & ~has_mask
    if box_only.any() and has_mask.any():
        warnings.warn(f"{int(box_only.sum())} of {n} scored positive pairs have a bbox but no mask while "
                      f"{int(has_mask.sum())} have a mask: segmentation figures count the box-only ones as IoU 0",
                      stacklevel=3)
    if has_box.sum() >= 3:
        _warn_xyxy(refs, rows, boxes[has_box], det[has_box], np.flatnonzero(has_box))


def _warn_xyxy(refs, rows, boxes, det, which) -> None:
    sizes = np.asarray([refs.masks[rows[k]]["size"] for k in which], np.float64)  # height, width
    x, y, w, h = boxes.T
    overflow = (x + w > sizes[:, 1] + 1) | (y + h > sizes[:, 0] + 1)
    as_xyxy = np.stack([x, y, w - x, h - y], 1)
    valid_xyxy = (as_xyxy[:, 2] >= 0) & (as_xyxy[:, 3] >= 0) & (w <= sizes[:, 1] + 1) & (h <= sizes[:, 0] + 1)
    if not valid_xyxy.all():
        return
    truths = cocomask.toBbox([refs.masks[rows[k]] for k in which])
    gain = box_iou(as_xyxy, truths).mean() - det.mean()
    if overflow.mean() > 0.5 or gain > 0.1:
        warnings.warn(f"the bboxes look like [x1, y1, x2, y2], not [x, y, w, h]: {int(overflow.sum())} of "
                      f"{len(boxes)} overflow their image as [x, y, w, h], all fit as corners, and read as corners "
                      f"their mean IoU with the ground truth would be {gain:.2f} higher; convert with "
                      "w = x2 - x1, h = y2 - y1", stacklevel=4)


# ---------------------------------------------------------------- rankings
def check_ranks(ranks, refs: References, distractors: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The ranks as an integer ndarray (an ndarray is not copied), and the ranks row of each averaged query."""
    try:
        ranks = np.asarray(ranks)
    except ValueError as err:
        raise ValueError(f"ranks must be a (num_queries, K) array of index ids ({err})") from None
    if ranks.dtype == object:
        raise ValueError("ranks must be a (num_queries, K) array of index ids; got rows of different lengths "
                         "or non-numbers")
    if ranks.dtype.kind not in "iu":
        raise ValueError(f"ranks must be integer index ids, got dtype {ranks.dtype}"
                         + (" (if they hold whole numbers: ranks.astype(np.int64))" if ranks.dtype.kind == "f"
                            else ""))
    if not isinstance(distractors, (int, np.integer)) or isinstance(distractors, bool) or distractors < 0:
        raise ValueError(f"distractors must be a non-negative integer (R1M: {R1M_DISTRACTORS}), got {distractors!r}")
    if refs.index_size is None:
        raise ValueError("ranks need the index size: pass index_size= (the number of index images) "
                         "for benchmark 'custom'")
    rows_wanted = (refs.num_queries,) + ((refs.queries.size,) if refs.subset else ())
    if ranks.ndim != 2 or ranks.shape[0] not in rows_wanted:
        hint = (" (that is revisitop's (K, num_queries) layout: pass ranks.T)"
                if ranks.ndim == 2 and ranks.shape[1] in rows_wanted else "")
        raise ValueError(f"ranks must have shape (num_queries={refs.num_queries}, K)"
                         + (f" or (len(queries)={refs.queries.size}, K)" if refs.subset else "")
                         + f", got {ranks.shape}{hint}")
    if ranks.shape[1] == 0:
        warnings.warn("ranks have no columns: nothing is retrieved, every AP is 0", stacklevel=3)
    rows = refs.queries if ranks.shape[0] == refs.num_queries else np.arange(refs.queries.size)
    return ranks, rows


def locate(ranks: np.ndarray, rows, relevant: list[np.ndarray], index_size: int, distractors: int = 0,
           threads: int | None = None) -> list[np.ndarray]:
    """Position of each of ``relevant[k]`` in ranks row ``rows[k]`` (-1: not ranked).

    One pass over each row, which also refuses ids that are negative, past the index
    (unless ``distractors`` are declared), past index + distractors, or repeated (a
    repeated distractor would shift every later position). Memory and time are bound
    by the index size and K, never by the ids' values. Rows are spread over threads:
    numpy releases the GIL in these loops.
    """
    limit = index_size + distractors  # ids 0 .. limit - 1
    top = 1 + max((int(ids.max()) for ids in relevant if ids.size), default=0)
    threads = max(1, min(threads or 4, os.cpu_count() or 1, len(relevant)))
    results: list = [None] * len(relevant)

    def work(first: int) -> None:
        position = np.full(top, -1, np.int64)
        seen = np.zeros(limit if limit <= _TABLE_IDS else 0, bool)
        for k in range(first, len(relevant), threads):
            row = ranks[rows[k]]
            if row.size == 0:
                results[k] = np.full(relevant[k].shape, -1, np.int64)
                continue
            low, high = int(row.min()), int(row.max())
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
            raise ValueError(result)
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


def ranking_figures(refs: References, ranks, distractors: int, det: np.ndarray, seg: np.ndarray | None,
                    official: bool = True) -> dict:
    """Pixel mAP (det, seg) and image mAP / mP@k; ``det`` / ``seg`` are IoUs of the scored rows."""
    ranks, rank_rows = check_ranks(ranks, refs, distractors)
    by_query = [np.flatnonzero(refs.query_ids == q) for q in refs.queries]
    positions = locate(ranks, rank_rows, [refs.index_ids[rows] for rows in by_query], refs.index_size, distractors)
    row_position = np.empty(len(refs.query_ids), np.int64)
    for rows, found in zip(by_query, positions):
        row_position[rows] = found
    scored = refs.positive & refs.labelled
    image_ap, image_mp, image_aps, image_prs = image_map(
        [row_position[rows[refs.positive[rows]]] for rows in by_query],
        [row_position[rows[~refs.positive[rows]]] for rows in by_query])
    # pixel mAP: unlabelled positives cannot be checked against a threshold: junk there
    pixel_positions = [row_position[rows[scored[rows]]] for rows in by_query]
    pixel_junk = [row_position[rows[~scored[rows]]] for rows in by_query]
    facts = BENCHMARKS.get(refs.benchmark)
    ignored = [k for k, q in enumerate(refs.queries) if facts and q in facts.ignored_queries]
    out = {"image_map": image_ap, **{f"image_mp@{k}": float(v) for k, v in zip(KAPPAS, image_mp)},
           "per_query": {"image_ap": image_aps, **{f"image_p@{k}": image_prs[:, j] for j, k in enumerate(KAPPAS)}}}
    for name, ious in (("det", det), ("seg", seg)):
        if ious is None:
            out[f"map_{name}"], out[f"map_{name}_per_threshold"], out["per_query"][f"ap_{name}"] = None, None, None
            continue
        iou_of_row = np.zeros(len(refs.query_ids))
        iou_of_row[scored] = ious
        value, per_threshold, aps = pixel_map(pixel_positions, [iou_of_row[rows[scored[rows]]] for rows in by_query],
                                              pixel_junk, ignored, official=official)
        out[f"map_{name}"], out[f"map_{name}_per_threshold"], out["per_query"][f"ap_{name}"] = (
            value, per_threshold, aps)
    return out


# ---------------------------------------------------------------- the whole evaluation
def evaluate_pixel_retrieval(predictions, references, *, benchmark: str, ranks=None, distractors: int = 0,
                             queries=None, official: bool = True, index_size: int | None = None,
                             num_queries: int | None = None) -> dict:
    """Everything the metric's ``compute`` returns, from plain Python / numpy inputs.

    See the metric card for the inputs; ``benchmark`` is the metric's config name.
    """
    refs = check_references(references, benchmark, queries, index_size, num_queries)
    positive = refs.positive
    unlabelled = positive & ~refs.labelled
    if unlabelled.any():
        warnings.warn(f"{int(unlabelled.sum())} positive pairs have no ground-truth mask: they are left out of "
                      "mean mIoU and treated as junk in pixel mAP", stacklevel=2)
    scored = np.flatnonzero(positive & refs.labelled)
    masks, boxes = check_predictions(predictions, refs, scored)
    truths = [refs.masks[r] for r in scored]
    det, seg = pair_ious(masks, boxes, truths)
    _warn_suspicious(refs, scored, masks, boxes, det)
    # a box-only method has no segmentation figures (boxes are never scored as masks)
    seg_available = any(m is not None for m in masks) or not (~np.isnan(boxes[:, 0])).any()
    miou_det, per_query_det = mean_miou(refs.query_ids[scored], det, refs.queries)
    miou_seg, per_query_seg = mean_miou(refs.query_ids[scored], seg, refs.queries)
    results = {"miou_det": miou_det, "miou_seg": miou_seg if seg_available else None}
    per_query = {"query_id": refs.queries.tolist(), "miou_det": per_query_det,
                 "miou_seg": per_query_seg if seg_available else None}
    if ranks is not None:
        figures = ranking_figures(refs, ranks, distractors, det, seg if seg_available else None, official)
        per_query.update(figures.pop("per_query"))
        results["per_threshold"] = {"threshold": THRESHOLDS.tolist(),
                                    **{k: _list(figures.pop(f"{k}_per_threshold")) for k in ("map_det", "map_seg")}}
        results.update(figures)
    elif distractors:
        raise ValueError("distractors are declared but no ranks are given")
    if refs.subset:
        results["subset"] = refs.queries.tolist()
    results["per_query"] = {k: _list(v) for k, v in per_query.items()}
    return results


FIGURES = ("miou_det", "miou_seg", "map_det", "map_seg", "image_map", *(f"image_mp@{k}" for k in KAPPAS))


def _list(values):
    """Arrays -> lists with nan (no figure for that query) as None, so results serialise as JSON."""
    if values is None or isinstance(values, list):
        return values
    return np.where(np.isnan(values), None, values).tolist()
