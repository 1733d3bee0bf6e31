"""Boxes: pixel [x, y, w, h], their IoU, and recognising boxes written in another convention.

Detectors write boxes many ways: corners [x1, y1, x2, y2] (torchvision), centres
[cx, cy, w, h] (YOLO, in pixels), normalised to [0, 1] (DETR and OWL-ViT: [cx, cy, w, h];
TensorFlow: [y1, x1, y2, x2]), or rows first [y, x, h, w]. Read as [x, y, w, h] they score
about 0 without any error; ``warn_box_convention`` says which convention they look like
when a large majority of them fits it far better than as given.
"""

from __future__ import annotations

import warnings

import numpy as np

MAJORITY = 0.75  # share of the boxes that must fit a convention (a few odd boxes do not hide a pattern)
GAIN = 0.1  # mean IoU gained by reading the boxes in that convention


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of [x, y, w, h] boxes (pixel boxes from toBbox: w counts pixels)."""
    iw = np.clip(np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _corners(x1, y1, x2, y2):
    return np.stack([x1, y1, x2 - x1, y2 - y1], 1)


def _centres(cx, cy, w, h):
    return np.stack([cx - w / 2, cy - h / 2, w, h], 1)


# name, how to convert (given columns b0..b3, image width W and height H -> [x, y, w, h] pixels), normalised
CONVENTIONS = (
    ("[x1, y1, x2, y2]", lambda b, W, H: _corners(b[:, 0], b[:, 1], b[:, 2], b[:, 3]), False,
     "w = x2 - x1, h = y2 - y1"),
    ("[cx, cy, w, h] (box centres)", lambda b, W, H: _centres(b[:, 0], b[:, 1], b[:, 2], b[:, 3]), False,
     "x = cx - w / 2, y = cy - h / 2"),
    ("[y, x, h, w] (rows first)", lambda b, W, H: b[:, [1, 0, 3, 2]], False, "swap x with y and w with h"),
    ("[y1, x1, y2, x2]", lambda b, W, H: _corners(b[:, 1], b[:, 0], b[:, 3], b[:, 2]), False,
     "x = x1, y = y1, w = x2 - x1, h = y2 - y1 from [y1, x1, y2, x2]"),
    ("[x, y, w, h] normalised to [0, 1]", lambda b, W, H: b * np.stack([W, H, W, H], 1), True,
     "multiply x and w by the image width, y and h by its height"),
    ("[cx, cy, w, h] normalised to [0, 1] (DETR / OWL-ViT output)",
     lambda b, W, H: _centres(b[:, 0] * W, b[:, 1] * H, b[:, 2] * W, b[:, 3] * H), True,
     "x = (cx - w / 2) * width, y = (cy - h / 2) * height, w = w * width, h = h * height"),
    ("[x1, y1, x2, y2] normalised to [0, 1]", lambda b, W, H: _corners(b[:, 0] * W, b[:, 1] * H, b[:, 2] * W,
                                                                        b[:, 3] * H), True,
     "x = x1 * width, y = y1 * height, w = (x2 - x1) * width, h = (y2 - y1) * height"),
    ("[y1, x1, y2, x2] normalised to [0, 1] (TensorFlow object detection)",
     lambda b, W, H: _corners(b[:, 1] * W, b[:, 0] * H, b[:, 3] * W, b[:, 2] * H), True,
     "x = x1 * width, y = y1 * height, w = (x2 - x1) * width, h = (y2 - y1) * height from [y1, x1, y2, x2]"),
)


def _fits(converted: np.ndarray, given: np.ndarray, width, height, normalised: bool) -> np.ndarray:
    """Which boxes are a plausible box in that convention: non-negative size, within the image (1 px slack)."""
    x, y, w, h = converted.T
    inside = (x >= -1) & (y >= -1) & (x + w <= width + 1) & (y + h <= height + 1)
    ok = (w >= 0) & (h >= 0) & inside
    if normalised:
        ok &= ((given >= -1e-6) & (given <= 1 + 1e-6)).all(axis=1)
    return ok


def _scaled(boxes: np.ndarray, truths: np.ndarray, as_given: float) -> str | None:
    """Boxes made on resized images (a detector's input size): [x, y, w, h] scaled by (sx, sy), estimated as the
    median ratio of their sizes to the ground truth's; named when reading them at 1 / scale gains GAIN."""
    sized = (boxes[:, 2] > 0) & (boxes[:, 3] > 0) & (truths[:, 2] > 0) & (truths[:, 3] > 0)
    if sized.mean() < MAJORITY:
        return None
    sx = float(np.median(boxes[sized, 2] / truths[sized, 2]))
    sy = float(np.median(boxes[sized, 3] / truths[sized, 3]))
    if max(abs(sx - 1), abs(sy - 1)) < 0.1:
        return None
    gain = box_iou(boxes / np.array([sx, sy, sx, sy]), truths).mean() - as_given
    if gain < GAIN:
        return None
    return (f"the bboxes look scaled by {sx:.3g} x {sy:.3g} (made on images resized by that much?), not [x, y, w, h] "
            f"in the image's pixels: read at 1 / that scale, their mean IoU with the ground truth would be {gain:.2f} "
            "higher; boxes must be in the pixels of the index image as decoded (its width and height)")


def warn_box_convention(boxes: np.ndarray, truths: np.ndarray, sizes: np.ndarray, stacklevel: int = 2) -> None:
    """Warn when given [x, y, w, h] boxes look like another convention.

    ``boxes`` (n, 4) as given, ``truths`` (n, 4) the ground-truth masks' pixel boxes, ``sizes`` (n, 2) each image's
    (height, width). A convention is named when at least ``MAJORITY`` of the boxes fit it and, read in it, their mean
    IoU with the ground truth is at least ``GAIN`` higher; boxes all within [0, 1] on images of tens of pixels or
    more, and boxes that mostly overflow their image as [x, y, w, h] while fitting as corners, are named on that
    evidence alone. Boxes that are empty or mostly outside their image get a warning of their own.
    """
    if not len(boxes):
        return
    height, width = sizes[:, 0], sizes[:, 1]
    as_given = box_iou(boxes, truths).mean()
    x, y, w, h = boxes.T
    gains = {}
    for name, convert, normalised, recipe in CONVENTIONS:
        with np.errstate(all="ignore"):
            converted = convert(boxes, width, height)
        fits = _fits(converted, boxes, width, height, normalised)
        if fits.mean() >= MAJORITY:
            gains[name] = (box_iou(np.where(fits[:, None], converted, 0), truths).mean() - as_given, recipe)
    message = None
    if gains:
        name, (gain, recipe) = max(gains.items(), key=lambda item: item[1][0])
        if gain >= GAIN:
            message = (f"the bboxes look like {name}, not [x, y, w, h] in pixels: read so, their mean IoU with the "
                       f"ground truth would be {gain:.2f} higher; convert with {recipe}")
    unit = ((boxes >= -1e-6) & (boxes <= 1 + 1e-6)).all(axis=1) & (np.minimum(width, height) >= 16)
    overflow = (x + w > width + 1) | (y + h > height + 1)
    if message is None and unit.mean() >= MAJORITY and as_given < 0.5:
        message = (f"the bboxes look normalised to [0, 1] ({int(unit.sum())} of {len(boxes)} lie within [0, 1] on "
                   "images of tens of pixels or more), not [x, y, w, h] in pixels: multiply by the image's width and "
                   "height (mind the convention: [x, y, w, h], [cx, cy, w, h] or corners)")
    if message is None and "[x1, y1, x2, y2]" in gains and overflow.mean() > 0.5:
        message = (f"the bboxes look like [x1, y1, x2, y2], not [x, y, w, h]: {int(overflow.sum())} of {len(boxes)} "
                   "overflow their image as [x, y, w, h] while fitting as corners; convert with w = x2 - x1, "
                   "h = y2 - y1")
    if message is None:
        message = _scaled(boxes, truths, as_given)
    if message is not None and len(boxes) >= 3:
        warnings.warn(message, stacklevel=stacklevel)
        return
    outside = (x >= width) | (y >= height) | (x + w <= 0) | (y + h <= 0)
    empty = (w == 0) | (h == 0)
    if empty.all() or outside.mean() > 0.5:
        warnings.warn(f"{int(empty.sum())} of {len(boxes)} predicted bboxes are empty (zero width or height) and "
                      f"{int(outside.sum())} lie wholly outside their image: their detection IoU is 0",
                      stacklevel=stacklevel)
