"""Plane geometry of images: homographies, projection, polygons, rasterisation, the query crop.

Points are (x, y) in pixels, arrays of shape (N, 2). Everything that turns a
shape into pixels goes through ``rasterise`` (pycocotools, like the masks), and
everything that cuts the query out of its image through ``query_crop``.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from pixret import masks
from pixret.metric.core import polygons

CIRCLE_SIDES = 8192


def homographies(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """3x3 H with dst ~ H src for batches of point sets (DLT): src, dst (B, N, 2), N >= 4 -> (B, 3, 3)."""
    b, n = src.shape[:2]
    x, y, u, v = src[..., 0], src[..., 1], dst[..., 0], dst[..., 1]
    one, zero = np.ones_like(x), np.zeros_like(x)
    rows = np.stack([
        np.stack([x, y, one, zero, zero, zero, -u * x, -u * y, -u], -1),
        np.stack([zero, zero, zero, x, y, one, -v * x, -v * y, -v], -1),
    ], 2).reshape(b, 2 * n, 9)
    return np.linalg.svd(rows)[2][:, -1].reshape(b, 3, 3)


def homography(src, dst) -> np.ndarray:
    """The homography of one set of point pairs, scaled so that H[2, 2] = 1."""
    h = homographies(np.asarray(src, float)[None], np.asarray(dst, float)[None])[0]
    return h / h[2, 2]


def project(h: np.ndarray, points) -> np.ndarray:
    """Points mapped by h: (3, 3) -> (N, 2), or a batch (B, 3, 3) -> (B, N, 2)."""
    points = np.asarray(points, float)
    projected = np.c_[points, np.ones(len(points))] @ np.swapaxes(h, -1, -2)
    w = projected[..., 2:]
    return projected[..., :2] / np.where(np.abs(w) < 1e-9, 1e-9, w)


def clip_polygon(points: np.ndarray, width: float, height: float) -> np.ndarray:
    """The polygon clipped to [0, width] x [0, height] ((0, 2) if nothing is left): ``polygons.clip_polygon``."""
    return polygons.clip_polygon(points, (0.0, 0.0), (float(width), float(height)))


def polygon_area(points: np.ndarray) -> float:
    """Area enclosed by a simple polygon (shoelace)."""
    points = np.asarray(points, float)
    if len(points) < 3:
        return 0.0
    x, y = points[:, 0], points[:, 1]
    return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)


def rectangle(corner_a, corner_b) -> np.ndarray:
    """The axis-aligned rectangle between two opposite corners, as a polygon."""
    (x1, y1), (x2, y2) = corner_a, corner_b
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], float)


def circle(center, point_on_circle) -> np.ndarray:
    """A disc (LabelMe: centre and a point on the circle) as a polygon, within 0.05 px of the circle up to a radius
    of ~3e5 px (at most CIRCLE_SIDES sides: a larger circle reaches far beyond any image, where the fill is cut)."""
    center = np.asarray(center, float)
    radius = float(np.linalg.norm(np.asarray(point_on_circle, float) - center))
    # a chord of n sides deviates from the arc by r (1 - cos(pi / n)) ~ r (pi / n)^2 / 2
    n = 8 if radius < 0.1 else int(min(CIRCLE_SIDES, max(8, math.ceil(math.pi * math.sqrt(radius / 0.1)))))
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return center + radius * np.stack([np.cos(angles), np.sin(angles)], 1)


def rasterise(polygons, height: int, width: int) -> dict:
    """Union of polygons (fewer than 3 points: none) as the mask RLE of a height x width image, cut at the image's
    edges as if the image went on: the *mask* is clipped, not the vertices (clamping vertices to the border changes
    the shape). ``masks.from_polygons``: the one way pixret fills polygons (the authors' matching results too); its
    RLE is marked as pixret's own, so the mask verbs do not decode it again to check it."""
    polygons = [np.asarray(p, float) for p in polygons if len(p) >= 3]
    if not polygons:
        return masks.encode(np.zeros((height, width), np.uint8))
    return masks.from_polygons(polygons, height, width)


def crop_box(bbox) -> tuple[int, int, int, int]:
    """The pixel box (left, top, right, bottom) of a query bbox [x, y, w, h], rounded as PIL rounds a crop."""
    x, y, w, h = (float(v) for v in bbox)
    return round(x), round(y), round(x + w), round(y + h)


def query_crop(image: Image.Image, bbox) -> Image.Image:
    """The query's crop: what a query is evaluated on (revisitop's ``bbx``), within the image."""
    left, top, right, bottom = crop_box(bbox)
    width, height = image.size
    left, right = min(max(left, 0), width), min(max(right, 0), width)
    top, bottom = min(max(top, 0), height), min(max(bottom, 0), height)
    return image.convert("RGB").crop((left, top, max(right, left + 1), max(bottom, top + 1)))


def box_mask(box, height: int, width: int) -> dict:
    """A filled axis-aligned box [x1, y1, x2, y2] (pixel edges, rounded, clipped) as an RLE."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    mask = np.zeros((height, width), np.uint8)
    mask[max(0, y1): max(0, y2), max(0, x1): max(0, x2)] = 1
    return masks.encode(mask)
