"""The evaluation of PROxford / PRParis as plain functions (numpy + pycocotools).

``evaluate_pixel_retrieval`` is what the metric's ``compute`` returns, in three steps:

    references.check_references   the split: protocol, benchmark identity, coverage, masks
    pair_ious                      detection and segmentation IoU of each scored (prediction, reference) pair
    ranking.ranking_figures        pixel mAP@50:5:95 and image mAP / mP@k from the rankings

and ``mean_miou`` (Table 1) here. Defaults equal the authors' released evaluation,
quirks included (see the metric card); input that is legal but probably a mistake
gets a warning saying what it looks like.
"""

from __future__ import annotations

import warnings

import numpy as np
from pycocotools import mask as cocomask

from . import rle
from .benchmarks import R1M_DISTRACTORS
from .ranking import KAPPAS, THRESHOLDS, ranking_figures
from .references import References, as_rows, check_references

PREDICTION_KEYS = ("mask", "segmentation", "bbox", "query_id", "index_id", "score")


# ---------------------------------------------------------------- predictions and IoUs
def check_predictions(predictions, refs: References, rows: np.ndarray):
    """Masks and boxes of the predictions on reference rows ``rows`` (the scored positives).

    Returns (masks: pycocotools RLE or None per row, boxes: (n, 4) with nan where there is no box).
    Every prediction (junk rows included) is checked for its keys; raises ValueError naming
    the row and pair.
    """
    predictions = as_rows(predictions, "predictions")
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
            box = check_box(box, where)
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
    """An id given in a prediction: an integer or a whole float (3.0); anything else is no id."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    try:
        return int(value) if float(value) == int(value) else None
    except (ValueError, OverflowError):
        return None


def check_box(box, where: str) -> np.ndarray:
    """A bbox [x, y, w, h] of finite numbers with w, h >= 0 (ValueError naming ``where`` otherwise)."""
    where = where.replace("references", "predictions")
    try:
        if not isinstance(box, (list, tuple, np.ndarray)) or not all(
                isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
                for v in box):
            raise TypeError
        array = np.asarray([float(v) for v in box], np.float64)
    except (TypeError, ValueError, OverflowError):
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
        if not any(cocomask.area(m) for m in masks if m is not None):  # (a list of over 255 trips pycocotools)
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
    if has_box.any():
        given, which = boxes[has_box], np.flatnonzero(has_box)
        sizes = np.asarray([refs.masks[rows[k]]["size"] for k in which], np.float64)  # height, width
        if has_box.sum() >= 3:
            _warn_xyxy(refs, rows, given, det[has_box], which, sizes)
        outside = (given[:, 0] >= sizes[:, 1]) | (given[:, 1] >= sizes[:, 0]) | (given[:, 0] + given[:, 2] <= 0) \
            | (given[:, 1] + given[:, 3] <= 0)
        empty = (given[:, 2] == 0) | (given[:, 3] == 0)
        if empty.all() or outside.mean() > 0.5:
            warnings.warn(f"{int(empty.sum())} of {len(given)} predicted bboxes are empty (zero width or height) and "
                          f"{int(outside.sum())} lie wholly outside their image: their detection IoU is 0",
                          stacklevel=3)
    if n and not any(cocomask.area(refs.masks[r]) for r in rows):
        warnings.warn(f"every ground-truth mask of the {n} scored positive pairs is empty: every IoU is 0 "
                      "(the references look broken)", stacklevel=3)


def _warn_xyxy(refs, rows, boxes, det, which, sizes) -> None:
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


# ---------------------------------------------------------------- the whole evaluation
def evaluate_pixel_retrieval(predictions, references, *, benchmark: str, ranks=None, distractors: int = 0,
                             queries=None, official: bool = True, index_size: int | None = None,
                             num_queries: int | None = None) -> dict:
    """Everything the metric's ``compute`` returns, from plain Python / numpy inputs.

    See the metric card for the inputs; ``benchmark`` is the metric's config name.
    """
    if not isinstance(official, (bool, np.bool_)):
        raise ValueError(f"official must be True (the authors' evaluation) or False, got {official!r}")
    distractors = 0 if distractors is None else distractors
    if not isinstance(distractors, (int, np.integer)) or isinstance(distractors, (bool, np.bool_)) or distractors < 0:
        raise ValueError(f"distractors must be a non-negative integer (R1M: {R1M_DISTRACTORS}), got {distractors!r}")
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
    per_pair = {"query_id": refs.query_ids[scored].tolist(), "index_id": refs.index_ids[scored].tolist(),
                "iou_det": det.tolist(), "iou_seg": seg.tolist() if seg_available else None}
    if ranks is not None:
        figures = ranking_figures(refs, ranks, distractors, det, seg if seg_available else None, official)
        per_query.update(figures.pop("per_query"))
        per_pair["position"] = figures.pop("positions").tolist()
        results["per_threshold"] = {"threshold": THRESHOLDS.tolist(),
                                    **{k: _list(figures.pop(f"{k}_per_threshold")) for k in ("map_det", "map_seg")}}
        results.update(figures)
    elif distractors:
        raise ValueError("distractors are declared but no ranks are given")
    if refs.subset:
        results["subset"] = refs.queries.tolist()
    results["per_query"] = {k: _list(v) for k, v in per_query.items()}
    results["per_pair"] = per_pair
    return results


FIGURES = ("miou_det", "miou_seg", "map_det", "map_seg", "image_map", *(f"image_mp@{k}" for k in KAPPAS))


def _list(values):
    """Arrays -> lists with nan (no figure for that query) as None, so results serialise as JSON."""
    if values is None or isinstance(values, list):
        return values
    return np.where(np.isnan(values), None, values).tolist()
