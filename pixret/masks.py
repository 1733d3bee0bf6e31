"""Masks in one format: COCO compressed RLE ``{"size": [height, width], "counts": str}``.

A few verbs in the spirit of ``pycocotools.mask``: ``encode``, ``decode``, ``area``,
``bbox``, ``boxes``, ``iou``, ``from_polygons``. RLEs cross into pycocotools through the
metric's strict boundary (``pixret.metric.rle``): counts that are not ASCII are an
``RLEError``, never re-encoded. The verbs trust the runs of RLEs pixret wrote or
checked; RLEs from users are checked in full (``pixret.metric.rle.check``) when read.
"""

from __future__ import annotations

import numpy as np
from pycocotools import mask as cocomask

from pixret.metric.rle import RLEError, from_coco, to_coco

__all__ = ["RLEError", "encode", "decode", "area", "bbox", "boxes", "iou", "from_polygons"]


def encode(mask: np.ndarray) -> dict:
    """Binary HxW array -> compressed RLE."""
    return from_coco(cocomask.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8))))


def decode(rle) -> np.ndarray:
    """Compressed RLE -> binary HxW uint8 array."""
    return cocomask.decode(to_coco(rle))


def area(rle) -> int:
    return int(cocomask.area(to_coco(rle)))


def bbox(rle) -> list[float]:
    """Tight pixel box [x, y, w, h] (w = last column - first column + 1); zeros if empty."""
    return [float(v) for v in cocomask.toBbox(to_coco(rle))]


def boxes(rles: list) -> np.ndarray:
    """``bbox`` of many RLEs at once: (n, 4)."""
    return cocomask.toBbox([to_coco(r) for r in rles]).reshape(-1, 4) if rles else np.zeros((0, 4))


def iou(a, b) -> float:
    """Mask IoU of two RLEs of one size (0 when either is None or both are empty)."""
    if a is None or b is None:
        return 0.0
    return float(cocomask.iou([to_coco(a)], [to_coco(b)], [0])[0, 0])


def from_polygons(polygons: list[np.ndarray], height: int, width: int) -> dict:
    """Union of polygons (each an Nx2 array of x, y points) as one compressed RLE.

    Rasterised by pycocotools, which differs slightly from the authors' OpenCV
    fillPoly on integer points (~0.003 IoU on average, see the metric card).
    """
    flat = [np.asarray(p, dtype=np.float64).reshape(-1).tolist() for p in polygons]
    return from_coco(cocomask.merge(cocomask.frPyObjects(flat, height, width)))
