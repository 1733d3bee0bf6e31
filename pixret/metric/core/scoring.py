"""The evaluation of PROxford / PRParis as plain functions (numpy + pycocotools).

``evaluate_pixel_retrieval`` is what the metric's ``compute`` returns (a ``figures.Result``), in steps:

    references.check_references   the split: protocol, benchmark identity, coverage, masks
    check_predictions              the predictions (predictions.parse_prediction), aligned with the rows
    scored_ious                    detection and segmentation IoU of each scored (prediction, reference) pair:
                                   polygons the authors' way when official (authors_iou), masks and boxes
                                   by exact geometry against the ground-truth mask (pair_ious)
    mean_miou                      Table 1
    ranking.rank_positions         where each reference row is in its query's ranking (one pass)
    ranking.figures_from_positions pixel mAP@50:5:95 and image mAP / mP@k (Table 2)
    oracles                        pixel mAP with a perfect ranking, and with perfect masks

Defaults (``official=True``) equal the authors' released evaluation end to end on polygon predictions, quirks
included, and their aggregation on every kind of prediction (see the metric card);
input that is legal but probably a mistake gets a warning saying what it looks like
(``boxes.warn_box_convention`` for boxes in another convention).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from pycocotools import mask as cocomask

from . import authors_iou, polygons, rle
from .benchmarks import R1M_DISTRACTORS
from .boxes import box_iou, warn_box_convention
from .errors import InputError
from .figures import THRESHOLDS, Result, nan_to_none
from .predictions import Where, as_rows, check_pair, parse_prediction
from .ranking import figures_from_positions, perfect_positions, pixel_maps, rank_positions
from .references import References, check_references


# ---------------------------------------------------------------- predictions and IoUs
@dataclass
class Scored:
    """The predictions on the scored rows, by kind (index k: the k-th scored row)."""

    masks: list  # pycocotools RLE (checked) or None
    boxes: np.ndarray  # (n, 4) [x, y, w, h], nan where there is no box
    polygons: list  # N x 2 float64 points (x, y) or None
    abstained: np.ndarray  # bool: the method gives nothing there

    @property
    def has_mask(self) -> np.ndarray:
        return np.asarray([m is not None for m in self.masks], bool)

    @property
    def has_polygon(self) -> np.ndarray:
        return np.asarray([p is not None for p in self.polygons], bool)

    @property
    def has_box(self) -> np.ndarray:
        return ~np.isnan(self.boxes[:, 0])


def check_predictions(predictions, refs: References, rows: np.ndarray, source: str | None = None) -> Scored:
    """The masks, boxes and polygons of the predictions on reference rows ``rows`` (the scored positives).

    Every prediction (junk rows included) is read by ``predictions.parse_prediction``; raises InputError
    naming the row and pair (``predictions_where``).
    """
    predictions = as_rows(predictions, "predictions")
    if len(predictions) != len(refs.query_ids):
        raise InputError(f"{len(predictions)} predictions for {len(refs.query_ids)} references: "
                         "they must align 1:1 with the rows of the split")
    scored_at = {int(r): k for k, r in enumerate(rows)}
    out = Scored([None] * len(rows), np.full((len(rows), 4), np.nan), [None] * len(rows), np.ones(len(rows), bool))
    given_masks, given_rows = [], []
    for r, value in enumerate(predictions):
        if value is None:
            continue
        try:  # named only when something is wrong: naming every row was ~10% of a compute
            prediction = parse_prediction(value, _UNNAMED)
            if prediction.query_id is not None or prediction.index_id is not None:
                check_pair(prediction, refs.pair(r), _UNNAMED)
        except InputError:
            where = predictions_where(refs, r, source)
            check_pair(parse_prediction(value, where), refs.pair(r), where)  # raises the same error, named
            raise
        if prediction.mask is not None:
            given_masks.append(prediction.mask)
            given_rows.append(r)
        k = scored_at.get(r)
        if k is not None:
            out.abstained[k] = prediction.empty
            out.polygons[k] = prediction.polygon
            if prediction.bbox is not None:
                out.boxes[k] = prediction.bbox
    try:
        coco = rle.validate(given_masks)
    except rle.RLEProblem as err:
        raise InputError(f"{predictions_where(refs, given_rows[err.index], source)}: mask: {err.problem}") from None
    for r, c in zip(given_rows, coco):
        if r in scored_at:
            expected = refs.masks[r]["size"]
            if c["size"] != expected:
                raise InputError(f"{predictions_where(refs, r, source)}: mask size {c['size']} differs from the reference "
                                 f"mask size {expected} (height, width)")
            out.masks[scored_at[r]] = c
    return out


_UNNAMED = Where("a prediction")  # parse_prediction's messages are a function of the value and its Where alone


def predictions_where(refs: References, row: int, source: str | None = None) -> Where:
    """How messages name the prediction of reference row ``row``: "predictions row N" and its pair, in compute's
    terms (its predictions align with the rows); or ``source`` (the file they came from) and the pair."""
    return refs.where(row, "predictions") if source is None else Where(source, refs.pair(row))


def pair_ious(masks: list, boxes: np.ndarray, truths: list, truth_facts=None) -> tuple[np.ndarray, np.ndarray]:
    """Detection and segmentation IoU of each pair of checked pycocotools RLEs: exact geometry.

    ``masks[k]`` / ``boxes[k]`` (nan: none) are the prediction, ``truths[k]`` the ground-truth mask, whose
    (boxes, areas) ``truth_facts`` may give (``References.mask_facts``). A given box is the detection; otherwise
    the predicted mask's tight box; nothing gives 0.
    """
    det, seg = np.zeros(len(truths)), np.zeros(len(truths))
    if not truths:
        return det, seg
    truth_boxes, truth_areas = truth_facts or (cocomask.toBbox(truths).reshape(-1, 4), areas(truths))
    with_mask = [k for k, m in enumerate(masks) if m is not None]
    if with_mask:
        predicted = [masks[k] for k in with_mask]
        seg[with_mask] = mask_ious(predicted, [truths[k] for k in with_mask], truth_areas[with_mask])
        det[with_mask] = box_iou(cocomask.toBbox(predicted), truth_boxes[with_mask])
    with_box = np.flatnonzero(~np.isnan(boxes[:, 0]))
    det[with_box] = box_iou(boxes[with_box], truth_boxes[with_box])
    return det, seg


def areas(rles: list) -> np.ndarray:
    """pycocotools' area of many RLEs, 255 at a time (its list version overflows past 255)."""
    out = np.empty(len(rles), np.int64)
    for start in range(0, len(rles), 255):
        out[start:start + 255] = cocomask.area(rles[start:start + 255])
    return out


def mask_ious(a: list, b: list, b_areas: np.ndarray | None = None) -> np.ndarray:
    """IoU of ``a[k]`` and ``b[k]`` (checked RLEs of one size each pair), equal to pycocotools' ``iou`` to the bit:
    the intersection's area by one C merge per pair, the areas in batches (its ``iou`` costs 3x more per pair);
    ``b_areas``: those of ``b`` when known."""
    intersection = np.array([cocomask.area(cocomask.merge([x, y], intersect=True)) for x, y in zip(a, b)], np.int64)
    union = areas(a) + (areas(b) if b_areas is None else b_areas) - intersection
    return np.divide(intersection, union, out=np.zeros(len(a)), where=intersection > 0)  # i == 0: 0, as pycocotools


def scored_ious(scored: Scored, refs: References, rows: np.ndarray, official: bool,
                source: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Detection and segmentation IoU of each scored row's prediction against its ground truth.

    Polygons: ``official`` gives the authors' procedure on the released shapes (``authors_iou``); otherwise
    they are filled exactly (``polygons.fill``, clipped to the image) and scored as masks. Masks and boxes
    are scored by exact geometry against the ground-truth mask, in both modes (``pair_ious``).
    """
    masks = list(scored.masks)
    polygon_rows = np.flatnonzero(scored.has_polygon)
    where = lambda n: predictions_where(refs, int(rows[polygon_rows[n]]), source)  # noqa: E731 - names polygon n
    if not official:  # (the authors' procedure bounds its own fill costs, this one the same way)
        authors_iou.check_costs([authors_iou.truncated(scored.polygons[k]) for k in polygon_rows], where)
        for k in polygon_rows:
            height, width = refs.masks[rows[k]]["size"]
            masks[k] = polygons.fill([scored.polygons[k]], height, width)
    det, seg = pair_ious(masks, scored.boxes, [refs.masks[r] for r in rows], refs.mask_facts(rows))
    if official and polygon_rows.size:
        det[polygon_rows], seg[polygon_rows] = authors_iou.pair_ious(
            [scored.polygons[k] for k in polygon_rows], refs.shapes(rows[polygon_rows]), where)
    return det, seg


def mean_miou(query_ids: np.ndarray, ious: np.ndarray, queries: np.ndarray):
    """Mean over ``queries`` of the mean IoU over each query's positives (queries without positives: nan, left out)."""
    size = int(queries.max()) + 1
    sums = np.bincount(query_ids, weights=ious, minlength=size)[queries]
    counts = np.bincount(query_ids, minlength=size)[queries]
    per_query = np.divide(sums, counts, out=np.full(queries.size, np.nan), where=counts > 0)
    return (float(np.nanmean(per_query)) if (counts > 0).any() else 0.0), per_query


def _warn_suspicious(refs: References, rows, scored: Scored, skipped: int, official: bool) -> None:
    """Legal input that is probably a mistake: say what it looks like."""
    masks, boxes, abstained = scored.masks, scored.boxes, scored.abstained
    has_mask, has_box, has_polygon = scored.has_mask, scored.has_box, scored.has_polygon
    n = len(rows)
    if n and abstained.all():
        warnings.warn(f"none of the {n} scored positive pairs has a prediction (a mask, a bbox or a polygon): every "
                      "IoU is 0", stacklevel=3)  # (none given, or all empty: both read the same here)
        return
    if has_polygon.any() and (has_mask | has_box).any():
        warnings.warn(f"{int(has_polygon.sum())} of {n} scored positive pairs have a polygon and "
                      f"{int((has_mask | has_box).sum())} a mask or a box: each is scored by its own kind ("
                      + ("polygons the authors' way, on the released shapes; masks and boxes against the mask"
                         if official else "all as exact geometry") + "); a method usually gives one kind",
                      stacklevel=3)
    if has_mask.any() and n:
        if not any(cocomask.area(m) for m in masks if m is not None):  # (a list of over 255 trips pycocotools)
            warnings.warn(f"every predicted mask ({int(has_mask.sum())}) is empty (zero area): every segmentation "
                          "IoU is 0", stacklevel=3)
    if abstained.any():
        missing = f"{int(abstained.sum())} of {n} scored positive pairs have no prediction"
        counted = int(abstained.sum()) - skipped
        if skipped:
            warnings.warn(f"{missing}: none is localised in pixel mAP; in mean mIoU the {skipped} easy ones are left "
                          "out of medium, as the authors' mious.py does (official=False counts them as IoU 0)"
                          + (f", the other {counted} count as IoU 0" if counted else ""), stacklevel=3)
        else:
            warnings.warn(f"{missing}: they count as IoU 0 in mean mIoU and as not localised in pixel mAP",
                          stacklevel=3)
    box_only = has_box & ~has_mask
    if box_only.any() and has_mask.any():
        warnings.warn(f"{int(box_only.sum())} of {n} scored positive pairs have a bbox but no mask while "
                      f"{int(has_mask.sum())} have a mask: segmentation figures count the box-only ones as IoU 0",
                      stacklevel=3)
    if has_box.any():
        which = np.flatnonzero(has_box)
        sizes = np.asarray([refs.masks[rows[k]]["size"] for k in which], np.float64)  # height, width
        truths = cocomask.toBbox([refs.masks[rows[k]] for k in which]).reshape(-1, 4)
        warn_box_convention(boxes[has_box], truths, sizes, stacklevel=4)
    if n and not any(cocomask.area(refs.masks[r]) for r in rows):
        warnings.warn(f"every ground-truth mask of the {n} scored positive pairs is empty: every IoU is 0 "
                      "(the references look broken)", stacklevel=3)


# ---------------------------------------------------------------- the whole evaluation
def evaluate_pixel_retrieval(predictions, references, *, benchmark: str, ranks=None, distractors: int = 0,
                             queries=None, official: bool = True, index_size: int | None = None,
                             num_queries: int | None = None, source: str | None = None) -> Result:
    """Everything the metric's ``compute`` returns, from plain Python / numpy inputs.

    See the metric card for the inputs; ``benchmark`` is the metric's config name. ``source``: the file the
    predictions were read from (``pixret.metric.evaluation.score_files``), which messages then name with the pair
    instead of the row.
    """
    if not isinstance(official, (bool, np.bool_)):
        raise InputError(f"official must be True (the authors' evaluation) or False, got {official!r}")
    distractors = 0 if distractors is None else distractors
    if not isinstance(distractors, (int, np.integer)) or isinstance(distractors, (bool, np.bool_)) or distractors < 0:
        raise InputError(f"distractors must be a non-negative integer (R1M: {R1M_DISTRACTORS}), got {distractors!r}")
    if distractors and ranks is None:
        raise InputError("distractors are declared but no ranks are given")
    refs = check_references(references, benchmark, queries, index_size, num_queries)
    unlabelled = refs.positive & ~refs.labelled
    if unlabelled.any():
        warnings.warn(f"{int(unlabelled.sum())} positive pairs have no ground-truth mask: they are left out of "
                      "mean mIoU and treated as junk in pixel mAP", stacklevel=2)
    scored = np.flatnonzero(refs.positive & refs.labelled)
    predicted = check_predictions(predictions, refs, scored, source)
    det, seg = scored_ious(predicted, refs, scored, official, source)
    # the authors' mious.py leaves easy positives the method gives nothing for out of medium mIoU (`continue`)
    # while hard ones count 0; the paper's Table 1 was made so: official=True reproduces it
    skip = predicted.abstained & (refs.difficulty[scored] == "easy") if official and refs.protocol == "medium" \
        else np.zeros(len(scored), bool)
    _warn_suspicious(refs, scored, predicted, int(skip.sum()), official)
    # a box-only method has no segmentation figures (boxes are never scored as masks)
    seg_available = (predicted.has_mask | predicted.has_polygon).any() or not predicted.has_box.any()
    kept = ~skip
    miou_det, per_query_det = mean_miou(refs.query_ids[scored][kept], det[kept], refs.queries)
    miou_seg, per_query_seg = mean_miou(refs.query_ids[scored][kept], seg[kept], refs.queries)
    per_query = {"query_id": refs.queries.tolist(), "miou_det": nan_to_none(per_query_det),
                 "miou_seg": nan_to_none(per_query_seg) if seg_available else None}
    per_pair = {"query_id": refs.query_ids[scored].tolist(), "index_id": refs.index_ids[scored].tolist(),
                "iou_det": det.tolist(), "iou_seg": seg.tolist() if seg_available else None}
    kinds = {"polygon": int(predicted.has_polygon.sum()), "mask": int(predicted.has_mask.sum()),
             "box": int((predicted.has_box & ~predicted.has_mask).sum()), "none": int(predicted.abstained.sum())}
    result = Result(refs.protocol, bool(official), miou_det, miou_seg if seg_available else None, per_query, per_pair,
                    subset=refs.queries.tolist() if refs.subset else None, skipped_pairs=int(skip.sum()), kinds=kinds)
    if ranks is not None:
        ious = {"det": det, "seg": seg if seg_available else None}
        row_position, by_query = rank_positions(refs, ranks, distractors)
        add_ranking(result, figures_from_positions(refs, row_position, by_query, ious, official))
        result.oracles = oracles(refs, row_position, by_query, ious, official)
    return result


def oracles(refs: References, row_position, by_query, ious: dict, official: bool = True) -> dict:
    """Pixel mAP with one half of the method made perfect, to see which half costs the most:
    ``perfect_ranking`` (the same masks, every positive ranked first in the method's own order) and
    ``perfect_masks`` (the same ranking, every positive's IoU 1)."""
    ranking = pixel_maps(refs, perfect_positions(refs, row_position, by_query), by_query, ious, official)
    given = next((v for v in ious.values() if v is not None), None)  # every IoU 1: one figure for every kind
    masks = pixel_maps(refs, row_position, by_query, {"": None if given is None else np.ones_like(given)}, official)
    return {"perfect_ranking": {f"map_{k}": None if v is None else v[0] for k, v in ranking.items()},
            "perfect_masks": {f"map_{k}": None if v is None else masks[""][0] for k, v in ious.items()}}


def add_ranking(result: Result, figures) -> None:
    """Put the figures of a ranking (``ranking.RankingFigures``) into a result."""
    result.map_det, result.map_seg = figures.pixel_map["det"], figures.pixel_map["seg"]
    result.image_map, result.image_mp = figures.image_map, figures.image_mp
    result.per_threshold = {"threshold": THRESHOLDS.tolist(),
                            **{f"map_{k}": nan_to_none(v) for k, v in figures.pixel_map_per_threshold.items()}}
    result.per_query.update({"image_ap": nan_to_none(figures.image_aps),
                             **{f"image_p@{k}": nan_to_none(figures.image_precisions[:, j])
                                for j, k in enumerate(figures.image_mp)},
                             **{f"ap_{k}": nan_to_none(v) for k, v in figures.pixel_aps.items()}})
    result.per_pair["position"] = figures.positions.tolist()
