"""The authors' per-pair IoU of a predicted region against the released shapes, to the last bit, but fast.

The benchmark's authors score a region (one list of points) against a pair's LabelMe shapes with
``compute_iou`` (``evaluation_code/utils/iou_compute.py`` in their repository). What it does:

- every point is truncated to an integer (towards zero);
- the canvas is square, S x S, with S = the largest coordinate, x or y, of either point set (not the image's
  size): a pixel at S or beyond is off the canvas;
- detection: each box runs from the min to the max of its truncated points, both included, and is written
  by numpy slicing ``mask[y0:y1 + 1, x0:x1 + 1]``, so a negative start counts from the canvas's end (it wraps)
  and a stop past the canvas is cut; the ground-truth box comes from all its shapes' points;
- segmentation: OpenCV's ``fillPoly`` of the prediction's points as one contour, and of each ground-truth
  shape's raw points, one call per shape, whatever its shape type (a rectangle's two corners are filled as two
  points: a line); 1- and 2-point regions and slivers are scored;
- IoU = |A and B| / (|A| + |B| - |A and B|), counted over the canvas, in float64.

Here boxes are intervals (no canvas at all), and each region is filled on a canvas cut to its bounding box
within [0, S). ``fillPoly`` draws nothing outside the box of its points, and it clips each edge at the canvas's
sides; the cut canvas has sides only where the authors' canvas has them or where no point lies beyond, so
every edge is clipped as theirs and every count equals theirs (checked against their procedure, literally, on
random polygons in the tests). No S x S canvas is drawn, so memory stays bounded by the regions' boxes.

Where their code fails (every coordinate negative: a canvas of negative size; or nothing on the canvas: 0 / 0)
the pair is refused: their script prints "error pair" and goes on with the previous pair's IoU.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

# |coordinate| bound for a region's points: 8x the benchmarks' largest image side. The authors' canvas is S x S,
# so a point at 10^5 would make them draw 2 x 80 GB; here a region's canvas is at most LIMIT^2 bytes (64 MiB).
LIMIT = 8192
# What a fill costs. OpenCV draws every edge as a line (edge pixels) and keeps the edges that cross an image row
# sorted by bubble sort (per row, up to the square of that row's edge count: "sort work"); a simple outline has
# two edges per row whatever its points, a scribble of random points thousands, and its fill takes minutes
# (in the authors' evaluation too). Past these a region is refused before any drawing (~1 s of OpenCV each).
MAX_EDGE_PIXELS = 2**26  # of all the regions of one evaluation together
MAX_SORT_WORK = 2**30  # of one region


def truncated(points) -> np.ndarray:
    """Points as the authors' ``np.array(points).astype(int)`` makes them: int64, truncated towards zero."""
    return np.asarray(points).astype(np.int64)


def check_points(points: np.ndarray, where, what: str = "region") -> None:
    """Refuse points the authors' procedure cannot take, or that no canvas here should hold: naming ``where``."""
    if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
        raise InputError(f"{where}: {what} points must be an N x 2 array of [x, y], N >= 1, got shape {points.shape}")
    if points.dtype.kind == "f" and not np.isfinite(points).all():
        raise InputError(f"{where}: {what} has a point that is not a finite number "
                         f"({points[~np.isfinite(points).all(1)][0].tolist()})")
    far = np.abs(points) >= LIMIT + 1
    if far.any():
        row = int(np.flatnonzero(far.any(1))[0])
        raise InputError(f"{where}: {what} point {row} is {points[row].tolist()}, more than {LIMIT} px from the image "
                         f"origin: the authors' evaluation draws an S x S canvas (S = the largest coordinate); "
                         f"points are bounded to +-{LIMIT} px")


def fill_cost(points: np.ndarray) -> tuple[int, float]:
    """(edge pixels, sort work) of filling a region of truncated points (see MAX_EDGE_PIXELS, MAX_SORT_WORK)."""
    following = np.roll(points, -1, 0)
    edge_pixels = int(np.abs(following - points).max(1).sum()) + len(points)
    if len(points) < 64:  # at most 64 edges a row: never near the bound
        return edge_pixels, 0.0
    top, bottom = np.minimum(points[:, 1], following[:, 1]), np.maximum(points[:, 1], following[:, 1])
    first, rows = int(top.min()), int(bottom.max() - top.min()) + 1  # rows <= 2 LIMIT + 1: bounded
    active = np.cumsum(np.bincount(top - first, minlength=rows + 1) - np.bincount(bottom - first, minlength=rows + 1))
    return edge_pixels, float(np.square(active[:rows], dtype=np.float64).sum())


def check_costs(regions: list[np.ndarray], where) -> None:
    """Refuse regions (truncated points) whose fill would take minutes: ``where(k)`` names region k."""
    total = 0
    for k, points in enumerate(regions):
        edge_pixels, sort_work = fill_cost(points)
        total += edge_pixels
        if sort_work > MAX_SORT_WORK:
            raise InputError(f"{where(k)}: a region of {len(points):,} points whose edges cross each image row "
                             f"{(sort_work / max(1, np.ptp(points[:, 1]) + 1)) ** 0.5:,.0f} times on average: OpenCV's "
                             f"fill (the authors' rasteriser) keeps them sorted row by row, sort work {sort_work:.2g} "
                             f"against a bound of {MAX_SORT_WORK:.2g} (about a second); a region is one outline, not a "
                             "scribble")
        if total > MAX_EDGE_PIXELS:
            raise InputError(f"{where(k)}: the regions' edges add up to more than {MAX_EDGE_PIXELS:,} pixels (each is "
                             "drawn as a line by the fill); outlines of objects in these images need far fewer")


def _spans(low: np.ndarray, high: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[start, stop) of numpy's ``axis[low:high + 1]`` on axes of ``size``, elementwise: a negative bound counts from
    the end (it wraps), then bounds are clamped to [0, size] (Python's ``slice.indices``)."""
    def bound(value):
        return np.where(value < 0, np.maximum(value + size, 0), np.minimum(value, size))
    start, stop = bound(low), bound(high + 1)
    return start, np.maximum(start, stop)


def _ratio(intersection, area_truth, area_pred):
    """Their ``intersection / (sum(gt) + sum(test) - intersection)`` in float64 (nan for 0 / 0)."""
    union = np.asarray(area_truth, np.float64) + np.asarray(area_pred, np.float64) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(intersection, np.float64) / union


def box_ious(pred_low, pred_high, truth_low, truth_high, size) -> np.ndarray:
    """Detection IoU per pair: the boxes of the truncated points (low / high: (n, 2) x, y), as numpy slices of S x S
    canvases (S = ``size``, per pair)."""
    size = size[:, None]
    pred_start, pred_stop = _spans(pred_low, pred_high, size)  # columns x, y
    truth_start, truth_stop = _spans(truth_low, truth_high, size)
    overlap = np.maximum(0, np.minimum(pred_stop, truth_stop) - np.maximum(pred_start, truth_start))
    return _ratio(overlap.prod(1), (truth_stop - truth_start).prod(1), (pred_stop - pred_start).prod(1))


def _fill(cv2, contours: list[np.ndarray], x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """Each contour filled by its own ``fillPoly`` call (their union) on the canvas cut to [x0, x1] x [y0, y1]."""
    canvas = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    origin = np.array([x0, y0], np.int64)
    for contour in contours:
        cv2.fillPoly(canvas, [(contour - origin).astype(np.int32)], 1)
    return canvas


def mask_iou(cv2, pred: np.ndarray, shapes: list[np.ndarray], pred_window, truth_window) -> float:
    """Segmentation IoU: the region and each shape filled by OpenCV, each on its window of the authors' canvas
    ((x0, y0, x1, y1), inclusive: its points' box within [0, S)), counted."""
    pred_mask = _fill(cv2, [pred], *pred_window) if _nonempty(pred_window) else None
    truth_mask = _fill(cv2, shapes, *truth_window) if _nonempty(truth_window) else None
    x0, y0 = max(pred_window[0], truth_window[0]), max(pred_window[1], truth_window[1])
    x1, y1 = min(pred_window[2], truth_window[2]), min(pred_window[3], truth_window[3])
    intersection = 0
    if pred_mask is not None and truth_mask is not None and x1 >= x0 and y1 >= y0:
        a = pred_mask[y0 - pred_window[1]:y1 - pred_window[1] + 1, x0 - pred_window[0]:x1 - pred_window[0] + 1]
        b = truth_mask[y0 - truth_window[1]:y1 - truth_window[1] + 1, x0 - truth_window[0]:x1 - truth_window[0] + 1]
        intersection = int(np.count_nonzero(a & b))
    truth_area, pred_area = (0 if m is None else int(np.count_nonzero(m)) for m in (truth_mask, pred_mask))
    union = float(truth_area) + float(pred_area) - intersection  # Python floats are IEEE doubles: numpy's figures
    return intersection / union if union else float("nan")


def _nonempty(window) -> bool:
    return window[2] >= window[0] and window[3] >= window[1]


def opencv():
    """OpenCV, imported when first needed (the authors' rasteriser; a dependency of pixret)."""
    try:
        import cv2
    except ImportError as err:  # pragma: no cover - a dependency; only a broken install gets here
        raise ImportError("scoring polygons the authors' way needs OpenCV (their rasteriser, cv2.fillPoly): "
                          "pip install opencv-python-headless") from err
    return cv2


def _extents(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each array's smallest and largest (x, y), in one pass over all of them."""
    counts = np.fromiter(map(len, arrays), np.int64, len(arrays))
    starts = np.cumsum(counts) - counts
    stacked = np.concatenate(arrays)
    return np.minimum.reduceat(stacked, starts), np.maximum.reduceat(stacked, starts)


def pair_ious(preds: list, shapes: list, where) -> tuple[np.ndarray, np.ndarray]:
    """(detection IoU, segmentation IoU) per pair of a region and a pair's shapes, as the authors compute them.

    ``preds[k]``: region k's N x 2 points (x, y); ``shapes[k]``: its ground truth's shapes, each M x 2 points
    (x, y), raw (``check_points`` says what is accepted; points past the bound are refused here too).
    ``where(k)`` names pair k in messages. Pairs where the authors' code fails or divides 0 by 0 are refused
    (InputError).
    """
    det, seg = np.zeros(len(preds)), np.zeros(len(preds))
    if not preds:
        return det, seg
    cv2 = opencv()
    preds = [truncated(p) for p in preds]
    shapes = [[truncated(s) for s in pair] for pair in shapes]
    pred_low, pred_high = _extents(preds)
    truth_low, truth_high = _extents([np.concatenate(pair) for pair in shapes])
    far = (np.maximum(np.abs(pred_low), np.abs(pred_high)).max(1) > LIMIT) | \
        (np.maximum(np.abs(truth_low), np.abs(truth_high)).max(1) > LIMIT)  # (NaN truncates to -2^63: caught)
    if far.any():
        raise InputError(f"{where(int(np.argmax(far)))}: a point of the region or of the ground truth is more than "
                         f"{LIMIT} px from the image origin (points are bounded to +-{LIMIT} px: the authors' canvas "
                         "is S x S, S = the largest coordinate)")
    check_costs(preds, where)  # (again when called from scoring: cheap, and this function stands on its own)
    size = np.maximum(pred_high.max(1), truth_high.max(1))
    if (size < 0).any():
        k = int(np.argmax(size < 0))
        raise InputError(f"{where(k)}: every coordinate of the region and of the ground truth is negative: the "
                         "authors' canvas (S x S, S = the largest coordinate) has a negative size; their evaluation "
                         "fails on this pair")
    det[:] = box_ious(pred_low, pred_high, truth_low, truth_high, size)
    _refuse_nan(det, where, "detection")
    last = (size - 1)[:, None]
    pred_windows = np.concatenate([np.maximum(pred_low, 0), np.minimum(pred_high, last)], 1).tolist()
    truth_windows = np.concatenate([np.maximum(truth_low, 0), np.minimum(truth_high, last)], 1).tolist()
    for k in range(len(preds)):
        seg[k] = mask_iou(cv2, preds[k], shapes[k], pred_windows[k], truth_windows[k])
    _refuse_nan(seg, where, "segmentation")
    return det, seg


def pair_iou(pred, shapes, where="this pair") -> tuple[float, float]:
    """``pair_ious`` of one region and one pair's shapes."""
    det, seg = pair_ious([pred], [shapes], lambda k: where)
    return float(det[0]), float(seg[0])


def _refuse_nan(ious: np.ndarray, where, kind: str) -> None:
    if np.isnan(ious).any():
        raise InputError(f"{where(int(np.argmax(np.isnan(ious))))}: the authors' {kind} IoU is 0 / 0 here (neither "
                         "the region nor the ground truth has a pixel on their canvas, which ends at the largest "
                         "coordinate and wraps negative box corners); their evaluation yields NaN for this pair")
