# Copyright 2026 The pixret authors. MIT license.
"""pixret_map: mean mIoU and pixel-retrieval mAP@50:5:95 for PROxford / PRParis.

Numerically identical to the evaluation code the benchmark's authors released
(An et al., ICCV 2023), quirks included; see README.md beside this file. The
module is self-contained (numpy + pycocotools) so that it also runs from the Hub.

Plain functions do the work and can be used without `evaluate`:
    rle_problems     why each COCO RLE is malformed (None where it is fine), in one numpy pass
    pair_ious        detection and segmentation IoU of each (prediction, reference) pair
    mean_miou        Table 1: mean over queries of the mean IoU over the query's positives
    locate           one pass over the rankings: positions of every relevant id
    average_precision  revisitop's trapezoid AP
    pixel_map        Table 2: mAP@50:5:95 where a positive counts only if its IoU > t
    image_map        revisitop image-level mAP and mP@k
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import datasets
import evaluate
import numpy as np
import pyarrow as pa
from pycocotools import mask as cocomask

THRESHOLDS = np.arange(50, 100, 5) / 100  # 0.50 ... 0.95, the same floats as the authors' thresh / 100
KAPPAS = (1, 5, 10)
IGNORED_QUERIES = {"proxford": (56, 63), "prparis": (57, 59)}  # the released code skips these in pixel mAP
NUM_QUERIES = 70
PROTOCOL_POSITIVES = {"easy": {"easy"}, "medium": {"easy", "hard"}, "hard": {"hard"}}

_CITATION = """\
@inproceedings{an2023pixel,
  title     = {Towards Content-based Pixel Retrieval in Revisited Oxford and Paris},
  author    = {An, Guoyuan and Kim, Woo Jae and Yang, Saelyne and Li, Rong and Huo, Yuchi and Yoon, Sung-Eui},
  booktitle = {ICCV},
  year      = {2023}
}
"""

_DESCRIPTION = """\
Pixel retrieval metrics of the PROxford and PRParis benchmarks: mean mIoU of the
predicted localisation on ground-truth (query, positive) pairs, with detection (box)
and segmentation (mask) IoU, and, given rankings of the database, pixel-retrieval
mAP@50:5:95 (a retrieved positive counts at threshold t only if its IoU > t) plus
revisitop's image-level mAP and mP@1/5/10. Default behaviour equals the authors'
released evaluation; `official=False` gives the corrected variant described in the card.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: one per reference row, a dict with `mask` (COCO RLE dict with `size` [h, w]
        and `counts` str/bytes, or None = no localisation) and optionally `bbox` ([x, y, w, h];
        detection IoU then uses it; a box without a mask makes segmentation figures None).
    references: one protocol split of the dataset's `pairs` config (a Dataset or its row dicts).
    ranks: optional (num_queries, K) integer array-like; row q = index ids for query q, best first.
        Ids >= the index size are distractors. Not copied.
    official: True (default) reproduces the authors' code; False: see the card.
Returns:
    miou_det, miou_seg; with ranks also map_det, map_seg, image_map, image_mp@1, image_mp@5,
    image_mp@10 (floats in [0, 1], None where unavailable), and per_query (lists by query id).
Examples:
    >>> metric = evaluate.load("pixret/pixret_map", "proxford")
    >>> results = metric.compute(predictions=preds, references=pairs["medium"], ranks=ranks)
    >>> results["map_det"]  # the paper's Table 2 figure
"""

_RLE = {"size": datasets.Sequence(datasets.Value("int64")), "counts": datasets.Value("string")}


# ---------------------------------------------------------------- RLE validation
def rle_problem(rle) -> str | None:
    """Why ``rle`` is not a valid compressed COCO RLE, or None."""
    return rle_problems([rle])[0]


def rle_problems(rles: list) -> list[str | None]:
    """For each RLE, why it is not a valid compressed COCO RLE, or None.

    pycocotools does not check (a corrupt string decodes out of bounds), so every
    RLE from outside goes through here: all of them decoded in one numpy pass.
    """
    problems: list[str | None] = [None] * len(rles)
    sizes, chunks, owners = [], [], []
    for k, rle in enumerate(rles):
        if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
            problems[k] = "expected a COCO RLE dict with 'size' and 'counts'"
            continue
        size, counts = rle["size"], rle["counts"]
        try:
            height, width = (int(v) for v in size)
            if height < 0 or width < 0 or [height, width] != list(size):
                raise ValueError
        except (TypeError, ValueError):
            problems[k] = f"RLE size must be [height, width] non-negative integers, got {size!r}"
            continue
        if isinstance(counts, str):
            counts = counts.encode("latin-1", errors="replace")
        if not isinstance(counts, bytes):
            problems[k] = f"RLE counts must be a compressed str or bytes, got {type(counts).__name__}"
            continue
        sizes.append(height * width)
        chunks.append(counts)
        owners.append(k)
    if not owners:
        return problems
    bad, totals = _decode_check(chunks)
    for j in np.flatnonzero(bad | (totals != np.asarray(sizes, np.int64))):
        problems[owners[j]] = ("RLE counts are not a valid compressed string" if bad[j]
                               else "RLE runs do not cover height*width pixels")
    return problems


def _decode_check(chunks: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Decode many compressed counts strings at once (the scheme of pycocotools' rleFrString).

    Returns, per string, whether it is malformed (bad bytes, a value cut off or over 64 bits,
    a negative run) and the sum of its runs, which must be height * width.
    """
    n = len(chunks)
    lengths = np.fromiter((len(c) for c in chunks), np.int64, n)
    raw = np.frombuffer(b"".join(chunks), np.uint8)
    ends = np.cumsum(lengths) - 1  # last byte of each string
    nonempty = lengths > 0
    bad = np.zeros(n, bool)
    bad[np.searchsorted(ends, np.flatnonzero((raw < 48) | (raw > 111)))] = True
    c = raw - np.uint8(48)  # wraps for bad bytes, which are flagged already
    terminal = (c & 0x20) == 0  # a value ends at a byte without the continuation bit
    bad[nonempty] |= ~terminal[ends[nonempty]]
    terminal[ends[nonempty]] = True  # a cut-off value must not spill into the next string
    last = np.flatnonzero(terminal)
    first = np.empty_like(last)
    first[:1] = 0
    first[1:] = last[:-1] + 1
    values = (c[first] & 0x1F).astype(np.int64)
    multi = np.flatnonzero(last > first)  # the few values longer than one byte
    nbytes = last[multi] - first[multi] + 1
    if (nbytes > 12).any():  # over 64 bits: no counts pycocotools wrote
        bad[np.searchsorted(ends, last[multi[nbytes > 12]])] = True
    for k in range(1, min(int(nbytes.max(initial=1)), 12)):
        sel = multi[nbytes > k]
        values[sel] |= (c[first[sel] + k] & 0x1F).astype(np.int64) << (5 * k)
    negative = np.flatnonzero(c[last] & 0x10)
    values[negative] -= np.left_shift(np.int64(1), 5 * np.minimum(last[negative] - first[negative] + 1, 12))
    # values per string, and the index of each string's first value
    value_count = np.diff(np.searchsorted(last, ends, side="right"), prepend=0)
    value_start = np.cumsum(value_count) - value_count
    # runs[m] = values[m] + runs[m - 2] for m > 2 within a string: a cumulative sum over
    # every other value that restarts at each string's first three values
    restart = np.zeros(values.size, bool)
    for d in range(3):
        restart[value_start[value_count > d] + d] = True
    runs = np.empty_like(values)
    for parity in (0, 1):
        x = values[parity::2]
        cs = np.cumsum(x)
        index = np.arange(x.size, dtype=np.int32 if x.size < 2**31 else np.int64)
        start = np.maximum.accumulate(np.where(restart[parity::2], index, 0))
        runs[parity::2] = cs - cs[start] + x[start]
    negative_runs = np.flatnonzero(runs < 0)
    if negative_runs.size:
        bad[np.searchsorted(value_start + value_count - 1, negative_runs)] = True
    totals = np.zeros(n, np.int64)
    has_values = value_count > 0
    if has_values.any():
        totals[has_values] = np.add.reduceat(runs, value_start[has_values])
    return bad, totals


def _coco(rle) -> dict:
    counts = rle["counts"]
    return {"size": [int(v) for v in rle["size"]], "counts": counts.encode() if isinstance(counts, str) else counts}


# ---------------------------------------------------------------- IoUs
def _box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of [x, y, w, h] boxes (pixel boxes from toBbox: w counts pixels)."""
    iw = np.clip(np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def pair_ious(predictions, references, rows=None):
    """Detection and segmentation IoU for the reference rows ``rows`` (default: all).

    Returns (det, seg, seg_available): float arrays aligned with ``rows``; a missing
    prediction gives 0. Raises ValueError naming the row for malformed input.
    """
    rows = list(range(len(references)) if rows is None else rows)
    preds = [predictions[r] or {} for r in rows]
    refs = [references[r] for r in rows]
    for r, ref in zip(rows, refs):
        if ref["mask"] is None:
            raise ValueError(f"references row {r}: positive pair ({ref['query_id']}, {ref['index_id']}) has no mask")
    _raise_first(rle_problems([ref["mask"] for ref in refs]), rows, "references")
    with_mask = [k for k, pred in enumerate(preds) if pred.get("mask") is not None]
    _raise_first(rle_problems([preds[k]["mask"] for k in with_mask]), [rows[k] for k in with_mask], "predictions")
    for k in with_mask:
        size, expected = list(preds[k]["mask"]["size"]), list(refs[k]["mask"]["size"])
        if [int(v) for v in size] != [int(v) for v in expected]:
            raise ValueError(f"predictions row {rows[k]}: mask size {size} differs from the reference mask size "
                             f"{expected} (query {refs[k]['query_id']}, index {refs[k]['index_id']})")
    with_box = [k for k, pred in enumerate(preds) if pred.get("bbox") is not None]
    boxes = np.zeros((len(with_box), 4))
    for j, k in enumerate(with_box):
        box = np.asarray(preds[k]["bbox"], dtype=np.float64)
        if box.shape != (4,) or not np.isfinite(box).all() or (box[2:] < 0).any():
            raise ValueError(f"predictions row {rows[k]}: bbox must be [x, y, w, h] with w, h >= 0, "
                             f"got {preds[k]['bbox']}")
        boxes[j] = box
    det = np.zeros(len(rows))
    seg = np.zeros(len(rows))
    if with_mask:
        dt = [_coco(preds[k]["mask"]) for k in with_mask]
        gt = [_coco(refs[k]["mask"]) for k in with_mask]
        seg[with_mask] = [cocomask.iou([d], [g], [0])[0, 0] for d, g in zip(dt, gt)]
        det[with_mask] = _box_iou(cocomask.toBbox(dt), cocomask.toBbox(gt))
    if with_box:  # a given box is the detection
        det[with_box] = _box_iou(boxes, cocomask.toBbox([_coco(refs[k]["mask"]) for k in with_box]))
    # a box without a mask is no segmentation: segmentation figures are then unavailable
    seg_available = set(with_box) <= set(with_mask)
    return det, seg, seg_available


def _raise_first(problems, rows, what):
    for row, problem in zip(rows, problems):
        if problem:
            raise ValueError(f"{what} row {row}: {problem}")


def mean_miou(query_ids: np.ndarray, ious: np.ndarray, num_queries: int):
    """Mean over queries of the mean IoU over each query's positives (queries without positives: nan, left out)."""
    sums = np.bincount(query_ids, weights=ious, minlength=num_queries)
    counts = np.bincount(query_ids, minlength=num_queries)
    per_query = np.divide(sums, counts, out=np.full(num_queries, np.nan), where=counts > 0)
    return (float(np.nanmean(per_query)) if (counts > 0).any() else 0.0), per_query


# ---------------------------------------------------------------- rankings
def check_ranks(ranks, num_queries: int) -> np.ndarray:
    """The ranks as an integer ndarray (no copy of an ndarray), or ValueError."""
    ranks = np.asarray(ranks)
    if ranks.ndim != 2 or ranks.shape[0] != num_queries:
        raise ValueError(f"ranks must have shape (num_queries={num_queries}, K), got {ranks.shape}")
    if ranks.dtype.kind not in "iu":
        raise ValueError(f"ranks must be integer index ids, got dtype {ranks.dtype}")
    return ranks


def locate(ranks: np.ndarray, relevant: list[np.ndarray], threads: int | None = None) -> list[np.ndarray]:
    """Position of each of query q's ``relevant[q]`` ids in ``ranks[q]`` (-1: not ranked).

    One pass over each row, which also refuses negative and duplicate ids (a
    duplicated distractor would shift every later position). Rows are spread over
    threads: numpy releases the GIL in these loops.
    """
    top = 1 + max((int(ids.max()) for ids in relevant if ids.size), default=0)
    threads = threads or min(4, os.cpu_count() or 1)
    results: list = [None] * ranks.shape[0]

    def work(first: int) -> None:
        seen = np.zeros(0, bool)
        position = np.full(top, -1, np.int64)
        for q in range(first, ranks.shape[0], threads):
            row = ranks[q]
            if row.size == 0:
                results[q] = np.full(relevant[q].shape, -1, np.int64)
                continue
            low, high = int(row.min()), int(row.max())
            if low < 0:
                results[q] = f"ranks row {q}: negative index id {low}"
                continue
            if seen.size <= high:
                seen = np.zeros(high + 1, bool)
            seen[: high + 1] = False
            seen[row] = True
            if np.count_nonzero(seen[: high + 1]) != row.size:
                values, counts = np.unique(row, return_counts=True)
                results[q] = f"ranks row {q}: duplicate index id {int(values[counts > 1][0])}"
                continue
            hits = np.flatnonzero(row < top)  # distractors and other ids past the relevant ones drop out here
            position[row[hits]] = hits
            results[q] = position[relevant[q]]
            position[row[hits]] = -1

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
    for result in results:
        if isinstance(result, str):
            raise ValueError(result)
    return results


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

    Per query q: ``positive_positions[q]`` (-1 = not ranked) and ``positive_ious[q]`` of the
    protocol's positives, ``junk_positions[q]`` of its junk. At each t: positives with IoU > t
    are the positives, the other protocol positives stay in the ranking as negatives; a query
    with none is dropped from that t's mean; ``ignored`` queries add 0 but stay in the
    denominator (``official=False``: they are left out like dropped queries).
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


# ---------------------------------------------------------------- references
def protocol_of(references) -> str:
    """The revisitop protocol a `pairs` split follows, from its difficulty/positive columns."""
    difficulty = np.asarray(references["difficulty"] if hasattr(references, "column_names")
                            else [r["difficulty"] for r in references])
    positive = np.asarray(references["positive"] if hasattr(references, "column_names")
                          else [r["positive"] for r in references], dtype=bool)
    candidates = set(PROTOCOL_POSITIVES)
    for protocol, kinds in PROTOCOL_POSITIVES.items():
        expected = np.isin(difficulty, list(kinds))
        if (expected != positive).any():
            candidates.discard(protocol)
    if not candidates:
        bad = np.flatnonzero(~np.isin(difficulty, ["easy", "hard", "junk"]))
        if bad.size:
            raise ValueError(f"references row {bad[0]}: unknown difficulty {difficulty[bad[0]]!r}")
        raise ValueError("references mix protocols: their positive flags fit none of easy / medium / hard "
                         "(pass one split of the pairs config)")
    return sorted(candidates, key=list(PROTOCOL_POSITIVES).index)[0]


# ---------------------------------------------------------------- the whole evaluation
def evaluate_pixel_retrieval(predictions, references, ranks=None, benchmark="proxford", official=True) -> dict:
    """Everything `compute` returns, from plain Python/numpy inputs."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references: they must align 1:1")
    if benchmark not in IGNORED_QUERIES:
        raise ValueError(f"unknown benchmark {benchmark!r}; expected one of {sorted(IGNORED_QUERIES)}")
    if len(references) == 0:
        raise ValueError("references are empty")
    protocol_of(references)
    query_ids = np.asarray([r["query_id"] for r in references], dtype=np.int64)
    index_ids = np.asarray([r["index_id"] for r in references], dtype=np.int64)
    if query_ids.min() < 0 or query_ids.max() >= NUM_QUERIES:
        bad = int(np.flatnonzero((query_ids < 0) | (query_ids >= NUM_QUERIES))[0])
        raise ValueError(f"references row {bad}: unknown query id {query_ids[bad]} (0..{NUM_QUERIES - 1})")
    if index_ids.min() < 0:
        raise ValueError(f"references row {int(np.argmin(index_ids))}: negative index id")
    pair_key = query_ids * (index_ids.max() + 1) + index_ids
    _, first = np.unique(pair_key, return_index=True)
    if first.size != pair_key.size:
        row = int(np.setdiff1d(np.arange(pair_key.size), first)[0])
        raise ValueError(f"references row {row}: the pair (query {query_ids[row]}, index {index_ids[row]}) "
                         "appears twice")
    positive = np.asarray([bool(r["positive"]) for r in references])
    labelled = np.asarray([r["mask"] is not None for r in references])
    unlabelled = positive & ~labelled
    if unlabelled.any():
        warnings.warn(f"{int(unlabelled.sum())} positive pairs have no ground-truth mask: they are left out of "
                      "mIoU and treated as junk in pixel mAP", stacklevel=2)
    num_queries = int(query_ids.max()) + 1
    scored = np.flatnonzero(positive & labelled)
    det, seg, seg_available = pair_ious(predictions, references, scored)
    miou_det, per_query_det = mean_miou(query_ids[scored], det, num_queries)
    miou_seg, per_query_seg = mean_miou(query_ids[scored], seg, num_queries)
    results = {"miou_det": miou_det, "miou_seg": miou_seg if seg_available else None}
    per_query = {"query_id": list(range(num_queries)), "miou_det": _list(per_query_det),
                 "miou_seg": _list(per_query_seg) if seg_available else None}
    if ranks is not None:
        ranks = check_ranks(ranks, num_queries)
        by_query = [np.flatnonzero(query_ids == q) for q in range(num_queries)]
        relevant = [index_ids[rows] for rows in by_query]
        positions = locate(ranks, relevant)
        row_position = np.empty(len(references), np.int64)
        for rows, pos in zip(by_query, positions):
            row_position[rows] = pos
        det_all = np.zeros(len(references))
        seg_all = np.zeros(len(references))
        det_all[scored], seg_all[scored] = det, seg
        pos_of = [row_position[rows[positive[rows]]] for rows in by_query]
        junk_of = [row_position[rows[~positive[rows]]] for rows in by_query]
        img_map, img_mp, img_aps, img_prs = image_map(pos_of, junk_of)
        # pixel mAP: unlabelled positives cannot be checked against a threshold: junk there
        pix_pos = [row_position[rows[positive[rows] & labelled[rows]]] for rows in by_query]
        pix_junk = [row_position[rows[~(positive[rows] & labelled[rows])]] for rows in by_query]
        ignored = IGNORED_QUERIES[benchmark]
        results["map_det"], _, ap_det = pixel_map(
            pix_pos, [det_all[rows[positive[rows] & labelled[rows]]] for rows in by_query], pix_junk, ignored,
            official=official)
        if seg_available:
            results["map_seg"], _, ap_seg = pixel_map(
                pix_pos, [seg_all[rows[positive[rows] & labelled[rows]]] for rows in by_query], pix_junk, ignored,
                official=official)
        else:
            results["map_seg"], ap_seg = None, None
        results["image_map"] = img_map
        for kappa, value in zip(KAPPAS, img_mp):
            results[f"image_mp@{kappa}"] = float(value)
        per_query.update({
            "ap_det": _list(ap_det), "ap_seg": None if ap_seg is None else _list(ap_seg),
            "image_ap": _list(img_aps), **{f"image_p@{k}": _list(img_prs[:, j]) for j, k in enumerate(KAPPAS)},
        })
    results["per_query"] = per_query
    return results


# ---------------------------------------------------------------- evaluate's Arrow path
# evaluate encodes inputs row by row in Python and type-checks only the first row,
# which fails on None masks and missing keys. Rows are instead brought to one fixed
# form here and written to evaluate's Arrow file as one pyarrow table.
_REFERENCE_COLUMNS = ("query_id", "index_id", "difficulty", "positive", "mask")


def _encode_mask(mask, where: str):
    if mask is None:
        return None
    if not isinstance(mask, dict) or "size" not in mask or "counts" not in mask:
        raise ValueError(f"{where}: mask must be a COCO RLE dict with 'size' and 'counts' (or None)")
    counts = mask["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("latin-1")
    if not isinstance(counts, str):
        raise ValueError(f"{where}: RLE counts must be a compressed str or bytes, got {type(counts).__name__}"
                         " (uncompressed RLE: pass it through pycocotools.mask.frPyObjects first)")
    try:
        size = [int(v) for v in mask["size"]]
    except (TypeError, ValueError):
        raise ValueError(f"{where}: RLE size must be [height, width], got {mask['size']!r}") from None
    return {"size": size, "counts": counts}


def _encode_predictions(predictions) -> list:
    out = []
    for r, pred in enumerate(predictions):
        pred = pred or {}
        if not isinstance(pred, dict):
            raise ValueError(f"predictions row {r}: expected a dict with 'mask' and/or 'bbox', "
                             f"got {type(pred).__name__}")
        bbox = pred.get("bbox")
        try:
            bbox = None if bbox is None else [float(v) for v in bbox]
        except (TypeError, ValueError):
            raise ValueError(f"predictions row {r}: bbox must be [x, y, w, h] numbers, got {bbox!r}") from None
        out.append({"mask": _encode_mask(pred.get("mask"), f"predictions row {r}"), "bbox": bbox})
    return out


def _encode_references(references) -> list:
    if hasattr(references, "select_columns"):  # a datasets.Dataset: read only what is scored
        missing = [c for c in _REFERENCE_COLUMNS if c not in references.column_names]
        if missing:
            raise ValueError(f"references lack the columns {missing}: pass a split of the dataset's pairs config")
        references = references.select_columns(list(_REFERENCE_COLUMNS)).to_list()
    out = []
    for r, ref in enumerate(references):
        if not isinstance(ref, dict) or any(c not in ref for c in _REFERENCE_COLUMNS):
            raise ValueError(f"references row {r}: expected a row of the dataset's pairs config with "
                             f"{list(_REFERENCE_COLUMNS)}")
        row = {c: ref[c] for c in _REFERENCE_COLUMNS}
        row["mask"] = _encode_mask(ref["mask"], f"references row {r}")
        out.append(row)
    return out


def _list(values: np.ndarray) -> list:
    """nan (no figure for that query) -> None, so per_query serialises as JSON."""
    return np.where(np.isnan(values), None, values).tolist()


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class PixretMap(evaluate.Metric):
    """config_name "proxford" (default) or "prparis": selects the ignore list of pixel mAP."""

    def _info(self):
        if self.config_name not in ("default", *IGNORED_QUERIES):
            raise ValueError(f"config_name must be one of {sorted(IGNORED_QUERIES)}, got {self.config_name!r}")
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({
                "predictions": {"mask": _RLE, "bbox": datasets.Sequence(datasets.Value("float64"))},
                "references": {
                    "query_id": datasets.Value("int32"),
                    "index_id": datasets.Value("int32"),
                    "difficulty": datasets.Value("string"),
                    "positive": datasets.Value("bool"),
                    "mask": _RLE,
                },
            }),
            reference_urls=["https://github.com/anguoyuan/Pixel_retrieval-Segmented_instance_retrieval",
                            "https://github.com/filipradenovic/revisitop"],
        )

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Add a batch of predictions and references (rows of the pairs config)."""
        if predictions is not None and references is not None and len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions for {len(references)} references: they must align 1:1")
        if kwargs or predictions is None or references is None:
            return super().add_batch(predictions=predictions, references=references, **kwargs)
        batch = {"predictions": _encode_predictions(predictions), "references": _encode_references(references)}
        if self.writer is None:
            self.selected_feature_format = self.features
            self._init_writer()
        try:
            table = pa.Table.from_pydict(batch, schema=self.features.arrow_schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as err:
            raise ValueError(f"predictions or references do not fit the expected format: {err}") from None
        self.writer.write_table(table)

    def add(self, *, prediction=None, reference=None, **kwargs):
        """Add one prediction and its reference row."""
        return self.add_batch(predictions=[prediction], references=[reference], **kwargs)

    def _compute(self, predictions, references, ranks=None, official=True):
        benchmark = "proxford" if self.config_name == "default" else self.config_name
        return evaluate_pixel_retrieval(predictions, references, ranks, benchmark, official)
