"""Polygons to masks, the one way: pycocotools' fill, exact also where a polygon leaves its image.

The ground truth (LabelMe polygons, ``pixret build``) and the authors' matching results
(``authors``) are both filled here. pycocotools' ``frPyObjects`` is not exact on a polygon that
leaves the image (it rounds negative coordinates towards zero), so such a polygon is filled on a
canvas that holds it and the image is cropped out: the *mask* is cut at the image's edges, the
vertices are never moved onto the border (which changes the shape). Parts farther out than one
image size are clipped geometrically first, which keeps the canvas bounded.
"""

from __future__ import annotations

import numpy as np
from pycocotools import mask as cocomask


def clip_polygon(points: np.ndarray, low, high) -> np.ndarray:
    """The polygon clipped to the box ``low`` <= (x, y) <= ``high`` (Sutherland-Hodgman, one side at a time);
    an empty (0, 2) array when nothing is left."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    for axis in (0, 1):
        for bound, keep in ((low[axis], np.greater_equal), (high[axis], np.less_equal)):
            if len(points) == 0:
                return points
            following = np.roll(points, -1, axis=0)
            inside = keep(points[:, axis], bound)
            crosses = inside != np.roll(inside, -1)
            step = np.where(crosses, following[:, axis] - points[:, axis], 1)
            crossing = points + ((bound - points[:, axis]) / step)[:, None] * (following - points)
            crossing[:, axis] = bound
            # each edge gives its start if inside, then where it crosses the side
            points = np.stack([points, crossing], 1)[np.stack([inside, crosses], 1)]
    return points


def fill(polygons, height: int, width: int) -> dict:
    """The union of ``polygons`` (each N x 2 points (x, y); fewer than 3 points: none) as the mask of a
    height x width image: a pycocotools RLE (counts as bytes)."""
    polygons = [np.asarray(p, np.float64).reshape(-1, 2) for p in polygons]
    polygons = [p for p in polygons if len(p) >= 3]
    size = np.array([width, height], np.float64)
    if not polygons:
        return _empty(height, width)
    low = np.floor(np.min([p.min(0) for p in polygons], 0))
    high = np.ceil(np.max([p.max(0) for p in polygons], 0))
    if (low >= 0).all() and (high <= size).all():
        return _fill(polygons, height, width)
    if (low < -size).any() or (high > 2 * size).any():
        polygons = [clip_polygon(p, -size, 2 * size) for p in polygons]
        polygons = [p for p in polygons if len(p) >= 3]
        if not polygons:
            return _empty(height, width)
        low = np.floor(np.min([p.min(0) for p in polygons], 0))
        high = np.ceil(np.max([p.max(0) for p in polygons], 0))
    if (high <= 0).any() or (low >= size).any():
        return _empty(height, width)
    shift = np.maximum(-low, 0).astype(np.int64)  # whole pixels: the fill is the same, moved
    canvas_width, canvas_height = (np.maximum(high, size) + shift).astype(np.int64)
    filled = cocomask.decode(_fill([p + shift for p in polygons], int(canvas_height), int(canvas_width)))
    return cocomask.encode(np.asfortranarray(filled[shift[1]:shift[1] + height, shift[0]:shift[0] + width]))


def _fill(polygons: list[np.ndarray], height: int, width: int) -> dict:
    return cocomask.merge(cocomask.frPyObjects([p.ravel().tolist() for p in polygons], height, width))


def _empty(height: int, width: int) -> dict:
    return cocomask.frPyObjects({"size": [height, width], "counts": [height * width]}, height, width)
