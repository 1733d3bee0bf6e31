"""Masks in one format: COCO compressed RLE ``{"size": [height, width], "counts": str}``.

A few verbs in the spirit of ``pycocotools.mask``: ``encode``, ``decode``, ``area``,
``areas``, ``bbox``, ``boxes``, ``iou``, ``from_polygons``. None gives a plausible wrong answer:
every RLE a verb takes is checked in full first (``pixret.metric.core.rle.validate``: a
malformed one is an ``RLEError``; pycocotools itself would decode it out of bounds),
except the ones ``encode`` and ``from_polygons`` just wrote, still of the size they were
written for; arrays, sizes and polygons pycocotools would misread are a ``MaskError``.
"""

from __future__ import annotations

import numpy as np
from pycocotools import mask as cocomask

from pixret.metric.core.errors import InputError
from pixret.metric.core.polygons import fill as fill_polygons
from pixret.metric.core.rle import MAX_SIDE, RLEError, RLEProblem, from_coco, to_coco, validate

__all__ = ["RLEError", "MaskError", "encode", "decode", "area", "areas", "bbox", "boxes", "iou", "from_polygons"]


class MaskError(InputError):
    """An array, a pair of masks or polygons the verbs cannot take as they are (the message says what they look
    like)."""


def encode(mask) -> dict:
    """Binary (H, W) mask -> compressed RLE.

    Takes a bool array, or an integer array whose values are all 0/1 or all 0/255 (PIL's convention for a
    mask image: unambiguous, since a 0/1 mask never holds 255); (H, W, 1) is read as (H, W). Anything else
    is refused (MaskError) with what it looks like: pycocotools would cast floats and values over 255 to
    uint8 (a probability map becomes an empty mask) and read 1 next to 255 as an edge.
    """
    return _written(cocomask.encode(np.asfortranarray(_binary(mask))))


def decode(rle) -> np.ndarray:
    """Compressed RLE -> binary HxW uint8 array."""
    return cocomask.decode(_checked(rle))


def area(rle) -> int:
    return int(cocomask.area(_checked(rle)))


def areas(rles) -> np.ndarray:
    """``area`` of many RLEs at once, checked together (one batch, far cheaper than one check each): (n,) int64.
    A malformed one is an RLEProblem naming its position. (pycocotools' own area of a list fails past 255.)"""
    return np.asarray([cocomask.area(c) for c in _all_checked(rles)], np.int64)


def bbox(rle) -> list[float]:
    """Tight pixel box [x, y, w, h] (w = last column - first column + 1); zeros if empty."""
    return [float(v) for v in cocomask.toBbox(_checked(rle))]


def boxes(rles: list) -> np.ndarray:
    """``bbox`` of many RLEs at once: (n, 4). A malformed one is an RLEProblem naming its position."""
    checked = _all_checked(rles)
    return cocomask.toBbox(checked).reshape(-1, 4) if checked else np.zeros((0, 4))


def iou(a, b) -> float:
    """Mask IoU of two RLEs of one size (0 when either is None or both are empty); masks of two sizes are a
    MaskError (pycocotools returns -1)."""
    if a is None or b is None:
        return 0.0
    a, b = _checked(a), _checked(b)
    if a["size"] != b["size"]:
        raise MaskError(f"iou of masks of different sizes: {a['size'][0]}x{a['size'][1]} and "
                        f"{b['size'][0]}x{b['size'][1]} (height x width)")
    return float(cocomask.iou([a], [b], [0])[0, 0])


def from_polygons(polygons: list[np.ndarray], height: int, width: int) -> dict:
    """Union of polygons (each an Nx2 array of x, y points, N >= 3) as one compressed RLE (empty for none).

    Rasterised by pycocotools (``pixret.metric.core.polygons.fill``: exact also where a polygon leaves the image,
    and bounded however far its points lie), which differs slightly from the authors' OpenCV
    fillPoly on integer points (~0.003 IoU on average, see the metric card).
    pycocotools reads 2 points as a box and fills a polygon with a NaN in it: both are a MaskError.
    """
    for name, side in (("height", height), ("width", width)):
        if isinstance(side, (bool, np.bool_)) or not isinstance(side, (int, np.integer)) or not 0 <= side <= MAX_SIDE:
            raise MaskError(f"from_polygons: {name} must be an integer between 0 and {MAX_SIDE}, got {side!r}")
    flat = []
    for k, points in enumerate(polygons):
        points = np.asarray(points)
        if points.ndim != 2 or points.shape[1] != 2 or points.dtype.kind not in "iuf":
            raise MaskError(f"polygon {k}: expected an Nx2 array of x, y numbers, got shape {points.shape} "
                            f"of {points.dtype}")
        if len(points) < 3:
            raise MaskError(f"polygon {k} has {len(points)} points: a polygon has at least 3")
        if not np.isfinite(points).all():
            raise MaskError(f"polygon {k} has a point that is not finite (NaN or infinity)")
        flat.append(points.astype(np.float64))
    if not flat:
        return encode(np.zeros((height, width), bool))
    return _written(fill_polygons(flat, height, width))


class _Written(str):
    """Counts pixret's encoder wrote (a str to everything else), with the ``size`` they were written for.

    The verbs take such an RLE without checking it again (a second decode would double the cost of a build)
    while its size is that one (kept as a tuple: a size list edited in place, ``rle["size"][0] = 1``, is seen,
    and the runs, longer than that mask, are an RLEError): a changed string is a plain str, and a JSON or
    datasets round trip gives one.
    """


def _written(coco: dict) -> dict:
    """An RLE pycocotools just encoded, marked as such."""
    rle = from_coco(coco)
    counts = _Written(rle["counts"])
    counts.size = tuple(rle["size"])  # a copy: the dict's list edited in place must not edit it too
    return {"size": rle["size"], "counts": counts}


def _trusted(rle) -> dict | None:
    """``rle`` as pycocotools takes it if pixret's encoder wrote it for its present size, else None."""
    if isinstance(rle, dict) and isinstance(rle.get("counts"), _Written):
        try:
            coco = to_coco(rle)
        except RLEError:  # a size edited into something else: the full check says so
            return None
        if tuple(coco["size"]) == rle["counts"].size:
            return coco
    return None


def _all_checked(rles) -> list[dict]:
    """Many RLEs as pycocotools takes them, checked in one batch unless pixret wrote them all."""
    rles = list(rles)
    trusted = [_trusted(r) for r in rles]
    return validate(rles) if None in trusted else trusted


def _checked(rle) -> dict:
    """One RLE checked in full (unless pixret wrote it), as pycocotools takes it; a problem as an RLEError."""
    trusted = _trusted(rle)
    if trusted is not None:
        return trusted
    try:
        return validate([rle])[0]
    except RLEProblem as err:
        raise RLEError(err.problem) from None


def _binary(mask) -> np.ndarray:
    """``mask`` as a uint8 array of 0/1, or a MaskError saying what it looks like."""
    array = np.asarray(mask)
    if array.ndim == 3 and array.shape[2] == 1:  # a singleton channel, as image libraries give a mask
        array = array[:, :, 0]
    if array.ndim == 3:
        raise MaskError(f"a mask is one (height, width) array, got shape {array.shape}: an image with "
                        f"{array.shape[2]} channels, or a stack of masks? encode one mask at a time")
    if array.ndim != 2:
        raise MaskError(f"a mask is a 2-D (height, width) array, got {array.ndim}-D shape {array.shape}")
    if array.dtype == bool:
        return array.view(np.uint8)
    if array.dtype.kind not in "iuf":
        raise MaskError(f"a mask is a bool or 0/1 integer array, got dtype {array.dtype}")
    if array.size == 0:
        return array.astype(np.uint8)
    low, high = array.min(), array.max()
    if array.dtype.kind in "iu":
        if low >= 0 and high <= 1:
            return array.astype(np.uint8)
        if high == 255 and ((array == 0) | (array == 255)).all():
            return (array == 255).view(np.uint8)
    raise MaskError(f"a mask is a bool array or integers all 0/1 (or all 0/255); got {_looks_like(array, low, high)}")


def _looks_like(array: np.ndarray, low, high) -> str:
    """What an array refused as a mask looks like, and what to do with it."""
    if array.dtype.kind == "f":
        if np.isnan(array).any():
            return f"{array.dtype} values with NaN in them"
        if ((array == 0) | (array == 1)).all():
            return f"{array.dtype} values 0.0 and 1.0: pass mask.astype(bool) (floats are refused: a probability " \
                   "map would be cast to an empty mask)"
        if 0 <= low and high <= 1:
            return f"{array.dtype} values from {low:g} to {high:g}, a probability map: threshold it, e.g. mask > 0.5"
        return f"{array.dtype} values from {low:g} to {high:g}, scores or logits: threshold them, e.g. mask > 0"
    values = np.unique(array)
    shown = ", ".join(str(v) for v in values[:6]) + (", ..." if values.size > 6 else "")
    if set(values.tolist()) <= {0, 1, 255}:
        return f"values {shown}: a mask is all 0/1 or all 0/255, not both"
    if low >= 0 and high <= 255 and values.size > 32:
        return f"values {low}..{high}, a grayscale image: threshold it, e.g. image > 127"
    return f"values {shown}, a label map: select one object, e.g. labels == k"
