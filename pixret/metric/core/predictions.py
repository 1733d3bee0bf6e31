"""The one reading of a prediction, wherever it comes from: a result file, ``compute``, ``add_batch``, the Space.

A prediction localises the query's object in one index image, as a mask, a box, or a polygon::

    {"mask": COCO RLE or None, "bbox": [x, y, w, h] or None}     # "segmentation" is COCO's name for "mask"
    {"polygon": [[x, y], ...]}                                   # one contour, the authors' kind of region

A polygon (N >= 1 points (x, y) in pixels, within +-8192 px; an empty list: no region) is what the authors'
matching results hold; official scoring gives it their IoU procedure (``authors_iou``). It stands alone: a
polygon with a mask or a bbox in the same prediction is an error.

optionally with ``query_id`` / ``index_id`` (its pair), ``score`` and ``category_id`` (both ignored). None, or
neither a mask nor a box, means the method gives nothing for that pair (it abstains). Ids are integers, or
floats with a whole value (3.0, as some JSON writers give them); nothing else is an id.

Messages say where a value came from with a ``Where`` ("preds.json: entry 3 (pair (0, 9))"), built once by the
caller in its own terms, never by editing another message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .authors_iou import check_points
from .errors import InputError

KEYS = ("mask", "segmentation", "bbox", "polygon", "query_id", "index_id", "score", "category_id")
ACCEPTED = ("mask (COCO alias: segmentation), bbox ([x, y, w, h]), polygon ([[x, y], ...]), query_id, index_id, "
            "score and category_id (both ignored)")


@dataclass(frozen=True)
class Where:
    """Where a value is, in the caller's terms: ``what`` ("predictions row 3") and, once known, its pair."""

    what: str
    pair: tuple[int, int] | None = None

    def __str__(self) -> str:
        return self.what if self.pair is None else f"{self.what} (pair ({self.pair[0]}, {self.pair[1]}))"

    def at(self, pair) -> "Where":
        return replace(self, pair=(int(pair[0]), int(pair[1])))


@dataclass(frozen=True)
class Prediction:
    mask: dict | None  # as given (validated in bulk by the caller: rle.validate)
    bbox: list[float] | None
    query_id: int | None = None
    index_id: int | None = None
    polygon: np.ndarray | None = None  # N x 2 float64 (x, y), checked

    @property
    def empty(self) -> bool:
        """The method gives nothing for this pair."""
        return self.mask is None and self.bbox is None and self.polygon is None


def as_id(value, where: Where, name: str) -> int:
    """An id: an integer, or a float with a whole value; not a bool, a string or a fraction."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{where}: {name} must be an integer, got {value!r}")
    try:
        whole = float(value) == int(value)
    except (ValueError, OverflowError):
        whole = False
    if not whole or not 0 <= int(value) < 2**63:
        raise InputError(f"{where}: {name} must be a non-negative integer, got {value!r}")
    return int(value)


def check_box(box, where: Where) -> list[float]:
    """A bbox [x, y, w, h] of finite numbers with w, h >= 0."""
    try:
        if not isinstance(box, (list, tuple, np.ndarray)) or not all(
                isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
                for v in box):
            raise TypeError
        array = np.asarray([float(v) for v in box], np.float64)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{where}: bbox must be [x, y, w, h] numbers, got {box!r}") from None
    if array.shape == (4,) and np.isnan(array).any():
        raise InputError(f"{where}: bbox has a missing value (NaN, as pandas writes a missing number), got {box!r}: "
                         "give the whole box, or none (None)")
    if array.shape != (4,) or not np.isfinite(array).all() or (array[2:] < 0).any():
        raise InputError(f"{where}: bbox must be [x, y, w, h] with w, h >= 0, got {box!r}")
    return array.tolist()


def check_polygon(value, where: Where) -> np.ndarray | None:
    """A polygon: N >= 1 points [x, y] of finite numbers within the bound (N x 2 float64), or None for an empty one."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
        points = value
    else:
        if not isinstance(value, (list, tuple, np.ndarray)):
            raise InputError(f"{where}: polygon must be a list of [x, y] points, got {type(value).__name__}")
        try:
            points = np.asarray(value, np.float64)
        except (TypeError, ValueError, OverflowError):
            raise InputError(f"{where}: polygon must be a list of [x, y] number pairs") from None
    if points.size == 0:
        return None
    if points.ndim != 2 or points.shape[1] != 2:
        hint = (" (a flat [x1, y1, x2, y2, ...] list, as COCO writes polygons? pair them as [[x, y], ...])"
                if points.ndim == 1 else " (several polygons? a prediction is one contour: use a mask for more)"
                if points.ndim == 3 else "")
        raise InputError(f"{where}: polygon must be N x 2 points [[x, y], ...], got shape {points.shape}{hint}")
    check_points(points, where, "polygon")
    return points.astype(np.float64, copy=False)


def missing(value) -> bool:
    """None, or pandas' way of writing it in a cell (NaN, pd.NA, NaT): no value."""
    return value is None or (isinstance(value, (float, np.floating)) and np.isnan(value)) or \
        type(value).__name__ in ("NAType", "NaTType")


def parse_prediction(value, where: Where) -> Prediction:
    """One prediction, every key checked (InputError naming ``where``); masks are validated later, in bulk."""
    if value is None:
        return Prediction(None, None)
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a dict with 'mask' and/or 'bbox' (or None), got {type(value).__name__}")
    unknown = [k for k in value if k not in KEYS]
    if unknown:
        if {"size", "counts"} <= set(value):
            raise InputError(f"{where}: this looks like a bare RLE; a prediction is {{'mask': rle, 'bbox': ...}}")
        hint = (" (COCO's image_id: a pixret prediction names its pair with query_id and index_id)"
                if "image_id" in unknown else "")
        raise InputError(f"{where}: unknown key {unknown[0]!r}{hint}; accepted keys: {ACCEPTED}")
    if "mask" in value and "segmentation" in value:
        raise InputError(f"{where}: has both 'mask' and 'segmentation' (the same field): keep one")
    field = "segmentation" if "segmentation" in value else "mask"  # messages use the caller's own key
    mask = None if missing(value.get(field)) else value.get(field)
    if mask is not None and not isinstance(mask, dict):
        polygons = isinstance(mask, (list, tuple))
        raise InputError(f"{where}: {field}: expected a COCO RLE dict {{size, counts}}, got {type(mask).__name__}"
                         + ("; a polygon goes under 'polygon': [[x, y], ...] (one contour; several: a mask, "
                            "pixret.masks.from_polygons)" if polygons else ""))
    box = None if missing(value.get("bbox")) else value.get("bbox")
    ids = [None if missing(value.get(k)) else as_id(value[k], where, k) for k in ("query_id", "index_id")]
    polygon = None if missing(value.get("polygon")) else check_polygon(value["polygon"], where)
    if polygon is not None and (mask is not None or box is not None):
        raise InputError(f"{where}: has a polygon and a {field if mask is not None else 'bbox'}: a polygon stands "
                         "alone (its box is its points' box); keep one")
    return Prediction(mask, None if box is None else check_box(box, where), *ids, polygon=polygon)


def check_pair(prediction: Prediction, pair: tuple[int, int], where: Where) -> None:
    """A prediction that names its pair must be the pair of the row it is aligned with."""
    for name, given, expected in (("query_id", prediction.query_id, pair[0]), ("index_id", prediction.index_id, pair[1])):
        if given is not None and given != expected:
            raise InputError(f"{where}: its {name} is {given} but the row is pair ({pair[0]}, {pair[1]}): "
                             "predictions must align with the reference rows (pixret.align(by_pair, split))")


def as_rows(values, what: str):
    """A list-like of rows: a list, tuple or array, a datasets.Dataset (also a streaming one, read here), a
    pandas DataFrame (its records), or any other iterable of rows (read into a list)."""
    if hasattr(values, "column_names") and hasattr(values, "__len__"):
        return values  # a datasets.Dataset
    if isinstance(values, (list, tuple, np.ndarray)):
        return values
    if hasattr(values, "to_dict") and hasattr(values, "columns"):  # pandas: iterating it gives column names
        return values.to_dict("records")
    if values is None or isinstance(values, (str, bytes, dict, int, float)) or not hasattr(values, "__iter__"):
        raise InputError(f"{what} must be a list (or a datasets.Dataset) of rows, got {type(values).__name__}")
    return list(values)  # an IterableDataset (streaming), a generator, ...


SHIFTS = (("index_id", 0, 1), ("query_id", 1, 0), ("query_id and index_id", 1, 1))  # (what, dq, di) of id - 1
SURPRISE = math.log(100)  # a shift's hits past chance at odds under 1 in 100 say the ids are shifted


def shifted_ids(pairs, held: set) -> str | None:
    """What says the ids of ``pairs`` (of predictions) are 1-based against the pairs the splits hold (``held``), or
    None: an id - 1 shift places most of the pairs no split holds on held pairs, far more than chance would.

    Chance is measured by the opposite shift (id + 1), which places about as many pairs as id - 1 does when the
    ids are right (predictions for negatives beside held pairs, a dense split); a 1-based file is placed nearly
    all one way. "Far more": the Chernoff bound on the binomial tail, exp(-n KL(placed / n || chance)), is under
    1 in 100 (exact enough for a decision, and no scipy in the metric's folder); real splits (~2% of the pairs
    held) give odds far smaller either way, toy ones (half the pairs held) need a dozen pairs to tell.
    """
    pairs = list(pairs)
    unused = [pair for pair in pairs if pair not in held]
    found = []
    for what, dq, di in SHIFTS:
        placed = sum((q - dq, i - di) in held for q, i in unused)
        control = sum((q + dq, i + di) in held for q, i in unused)
        chance = (control + 1) / (len(unused) + 2)  # (Laplace's rule: never 0 or 1)
        if placed > len(unused) / 2 and placed / len(unused) > chance and \
                len(unused) * _divergence(placed / len(unused), chance) > SURPRISE:
            found.append((placed, what, control))
    if not found:
        return None
    placed, what, control = max(found)
    return (f"{len(unused)} of {len(pairs)} predictions are for pairs no evaluated split holds, and {placed} of "
            f"those would be with {what} - 1 ({control} with {what} + 1)")


def _divergence(observed: float, expected: float) -> float:
    """Kullback-Leibler divergence of Bernoulli(observed) from Bernoulli(expected), 0 < expected < 1."""
    return sum(a * math.log(a / b) for a, b in ((observed, expected), (1 - observed, 1 - expected)) if a > 0)


def one_based(pairs, held: set) -> str | None:
    """What in ``pairs`` (of predictions) looks 1-based against the pairs the splits hold (``held``), or None:
    ``shifted_ids``, or no pair names query 0 while the splits do (a shift of the query ids alone mostly lands on
    held pairs: a landmark's queries share their positives)."""
    pairs = list(pairs)
    shifted = shifted_ids(pairs, held)
    if shifted:
        return shifted
    given = {q for q, _ in pairs}  # (index ids: a method may well give nothing for index image 0)
    if len(given) > 1 and min(given) == 1 and 0 in {q for q, _ in held}:
        return "no prediction names query 0, while the split's queries start there and the predictions' at 1"
    return None
