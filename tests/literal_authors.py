"""Slow, literal re-implementations of the benchmark authors' evaluation, for tests only.

Written from reading their ``evaluation_code`` (repository anguoyuan/Pixel_retrieval-Segmented_instance_retrieval):
``utils/iou_compute.py`` ``compute_iou``, the loop of ``mious.py``, ``utils/evaluate_pixel.py`` ``compute_map(s)``
and ``utils/evaluate.py`` ``compute_map`` (revisitop's). Step by step as they do it — full S x S float canvases,
numpy slicing, one ``cv2.fillPoly`` per shape, Python loops — so that pixret's fast code can be checked against
them. Where their code fails or yields NaN, these raise ``AuthorsFailure`` (their scripts print "error pair" and
carry on with a stale value, or print nan): pixret refuses those inputs.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


class AuthorsFailure(Exception):
    """Their code would fail, or give NaN, on this input."""


def compute_iou(test_points, gt_shapes, kind: str) -> float:
    """Their ``compute_iou(found_points, gt_points, type=kind)``: kind "bbox" or "segmentation"."""
    everything = []
    for shape in gt_shapes:
        everything = everything + [list(p) for p in shape]
    test = np.array(test_points).astype(int)
    truth = np.array(everything).astype(int)
    side = max(test[:, 0].max(), test[:, 1].max(), truth[:, 0].max(), truth[:, 1].max())
    try:
        test_mask, truth_mask = np.zeros((side, side)), np.zeros((side, side))
    except ValueError as err:  # a negative side
        raise AuthorsFailure(str(err)) from None
    if kind == "bbox":
        test_mask[test[:, 1].min():test[:, 1].max() + 1, test[:, 0].min():test[:, 0].max() + 1] = 1.0
        truth_mask[truth[:, 1].min():truth[:, 1].max() + 1, truth[:, 0].min():truth[:, 0].max() + 1] = 1.0
    else:
        cv2.fillPoly(test_mask, pts=[np.array([[x, y] for x, y in zip(test[:, 0], test[:, 1])])],
                     color=(255, 255, 255))
        test_mask /= 255.0
        for shape in gt_shapes:
            points = np.array(shape).astype(int)
            cv2.fillPoly(truth_mask, pts=[np.array([[x, y] for x, y in zip(points[:, 0], points[:, 1])])],
                         color=(255, 255, 255))
        truth_mask /= 255.0
    intersection = np.sum(np.logical_and(test_mask, truth_mask))
    union = np.sum(truth_mask) + np.sum(test_mask) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = intersection / union
    if math.isnan(iou):
        raise AuthorsFailure("0 / 0")
    return float(iou)


def mious(match_set: dict, shapes_of: dict, gnd: list) -> tuple[list[float], dict]:
    """The loop of ``mious.py`` for one benchmark and one method.

    ``match_set``: {"qimlist_q_imlist_i": points} (their matching result); ``shapes_of``: {"q_i": [points of
    each shape]} (the label file each pair's path in pair2labelpath names); ``gnd``: revisitop's per-query dicts.
    Returns ([medium_bbox, medium_seg, hard_bbox, hard_seg] mean mIoU, the IoU dict {"q_i": [bbox, seg]}).
    """
    ious = {}
    medium_d, medium_s, hard_d, hard_s = [], [], [], []
    for q in range(len(gnd)):
        qmd, qms, qhd, qhs = [], [], [], []
        for i in gnd[q]["hard"]:
            found = match_set["qimlist_" + str(q) + "_imlist_" + str(i)]
            if len(found) == 0:
                ious[str(q) + "_" + str(i)] = [0, 0]
                qmd.append(0), qms.append(0), qhd.append(0), qhs.append(0)
                continue
            d = compute_iou(found, shapes_of[str(q) + "_" + str(i)], "bbox")
            s = compute_iou(found, shapes_of[str(q) + "_" + str(i)], "segmentation")
            ious[str(q) + "_" + str(i)] = [d, s]
            qmd.append(d), qms.append(s), qhd.append(d), qhs.append(s)
        for i in gnd[q]["easy"]:
            found = match_set["qimlist_" + str(q) + "_imlist_" + str(i)]
            if len(found) == 0:
                continue  # their quirk: an easy positive without a region is left out of medium
            d = compute_iou(found, shapes_of[str(q) + "_" + str(i)], "bbox")
            s = compute_iou(found, shapes_of[str(q) + "_" + str(i)], "segmentation")
            ious[str(q) + "_" + str(i)] = [d, s]
            qmd.append(d), qms.append(s)
        medium_d.append(np.mean(qmd)), medium_s.append(np.mean(qms))
        hard_d.append(np.mean(qhd)), hard_s.append(np.mean(qhs))
    return [float(np.mean(v)) for v in (medium_d, medium_s, hard_d, hard_s)], ious


def protocol_gnd(gnd: list, protocol: str) -> list[dict]:
    """revisitop's ParseEasyMediumHardGroundTruth for one protocol: {"ok", "junk"} per query."""
    ok = {"easy": ("easy",), "medium": ("easy", "hard"), "hard": ("hard",)}[protocol]
    junk = {"easy": ("junk", "hard"), "medium": ("junk",), "hard": ("junk", "easy")}[protocol]
    return [{"ok": np.concatenate([np.asarray(g[k], int) for k in ok]),
             "junk": np.concatenate([np.asarray(g[k], int) for k in junk])} for g in gnd]


def _ap(ranks, nres) -> float:
    ap = 0.0
    for j in np.arange(len(ranks)):
        rank = ranks[j]
        left = 1.0 if rank == 0 else float(j) / rank
        ap += (left + float(j + 1) / (rank + 1)) * (1.0 / nres) / 2.0
    return ap


def _positions(column, ok, junk):
    pos = np.arange(column.shape[0])[np.isin(column, ok)]
    junk = np.arange(column.shape[0])[np.isin(column, junk)]
    k = ij = 0
    if len(junk):
        for ip in range(len(pos)):
            while ij < len(junk) and pos[ip] > junk[ij]:
                k += 1
                ij += 1
            pos[ip] = pos[ip] - k
    return pos


def pixel_map_at(dataset: str, ranks, ious: dict, thresh: int, gnd_protocol: list) -> float:
    """``evaluate_pixel.compute_map`` at threshold thresh / 100; ranks: (database, queries); ious {"q_i": [d, s]}."""
    ignore = [56, 63] if "oxford" in dataset else [57, 59] if "paris" in dataset else []
    total, empty = 0.0, 0
    for i in range(len(gnd_protocol)):
        if i in ignore:
            continue
        positives = []
        for j in gnd_protocol[i]["ok"]:
            key = str(i) + "_" + str(int(j))
            if key in ious and ious[key][0] > thresh / 100:
                positives.append(j)
        if not positives:
            empty += 1
            continue
        pos = _positions(ranks[:, i], np.array(positives), np.array(gnd_protocol[i]["junk"]))
        total += _ap(pos, len(positives))
    if len(gnd_protocol) == empty:
        return 0.0  # their code divides by zero (no ignored query, none above t): pixret defines this case as 0
    return total / (len(gnd_protocol) - empty)


def pixel_map(dataset: str, ranks, ious: dict, gnd_protocol: list) -> float:
    """``evaluate_pixel.compute_maps``: the mean over thresholds 50, 55, ..., 95."""
    return float(np.average([pixel_map_at(dataset, ranks, ious, t, gnd_protocol) for t in range(50, 100, 5)]))


def image_map(ranks, gnd_protocol: list) -> float:
    """revisitop's ``compute_map`` (their utils/evaluate.py), mAP only; ranks: (database, queries)."""
    total, empty = 0.0, 0
    for i in range(len(gnd_protocol)):
        ok = np.array(gnd_protocol[i]["ok"])
        if ok.shape[0] == 0:
            empty += 1
            continue
        pos = _positions(ranks[:, i], ok, np.array(gnd_protocol[i]["junk"]))
        total += _ap(pos, len(ok))
    return total / (len(gnd_protocol) - empty)
