"""From a model's outputs to the result files ``pixret evaluate`` reads: which pairs to localise, the predictions
file, the ranks array.

    import numpy as np
    import pixret

    pairs = pixret.pairs_to_predict("demo_output/dataset")        # the split's positive and junk pairs
    with pixret.PredictionWriter("preds.json", dataset="demo_output/dataset") as out:
        for q, i in pairs:
            out.add(q, i, mask=my_segmenter(q, i))                # bool (height, width) of index image i
    np.save("ranks.npy", pixret.ranks_from_scores(scores, top_k=100))  # scores: (num_queries, num_index)

The predictions file is pixret's format (``pixret.metric.files.results``, read by ``predictions.parse_prediction``): a
JSON list of ``{"query_id", "index_id", "segmentation": COCO RLE and/or "bbox": [x, y, w, h]}``, or ``{"query_id",
"index_id", "polygon": [[x, y], ...]}`` (one contour, pixel coordinates; a polygon excludes the other two). The
writer takes per pair a numpy (or torch) mask, an RLE, a polygon, or a box in a declared ``box_format``, checks
each as the metric will (ids, sizes, duplicates) when it is added, and writes the file whole at the end, or
nothing when the ``with`` block fails.

Every problem is an ``InputError`` naming the pair and the Python parameter; legal input that is probably a
mistake (positives left without a prediction, pixel boxes that look normalised, ids that look 1-based) is a
``UserWarning``.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from pixret import masks as masklib
from pixret.metric.core import rle
from pixret.metric.core.benchmarks import PROTOCOLS
from pixret.metric.core.errors import InputError
from pixret.metric.core.predictions import Where, as_id, shifted_ids

BOX_FORMATS = {  # name: what the four numbers are
    "xywh": "[x, y, width, height] (COCO; pixret's own)",
    "xyxy": "[x1, y1, x2, y2] (corners: torchvision, Pascal VOC)",
    "cxcywh": "[centre x, centre y, width, height] (YOLO; DETR and OWL-ViT when normalized)",
}
DEFAULT_PROTOCOLS = ("medium", "hard")  # what pixret evaluate scores by default (the paper's)
SHOWN = 5  # pairs quoted in a message


# ---------------------------------------------------------------- the dataset, as the writer needs it
@dataclass(frozen=True)
class _Truth:
    num_queries: int
    index_sizes: list  # (height, width) by index id
    load_split: object  # protocol -> pairs split


def _truth(dataset) -> _Truth:
    """A built dataset given as a folder or Hub id (str / Path), an opened ``pixret.dataset.BuiltDataset`` or a
    ``pixret.metric.evaluation.GroundTruth``."""
    from pixret.metric.evaluation import GroundTruth

    if isinstance(dataset, GroundTruth):
        return _Truth(len(dataset.query_names), list(dataset.index_sizes), dataset.load_split)
    from pixret.dataset import BuiltDataset, open_dataset

    if isinstance(dataset, (str, Path)):
        dataset = open_dataset(dataset)
    if not isinstance(dataset, BuiltDataset):
        raise InputError(f"dataset must be a built dataset folder or Hub id (a str or Path), or an opened dataset "
                         f"(pixret.dataset.open_dataset), got {type(dataset).__name__}")
    return _Truth(len(dataset.query_names), list(dataset.index_sizes), dataset.split)


# ---------------------------------------------------------------- which pairs
@dataclass(frozen=True)
class PairsToPredict:
    """The (query_id, index_id) pairs of the evaluated splits, in (query, index) order: each a positive of some
    protocol (scored: without a prediction its IoU is 0) or junk (read, never scored). A prediction for any other
    pair is ignored and counted. Iterating gives (query_id, index_id) tuples of ints."""

    query_ids: np.ndarray  # int64
    index_ids: np.ndarray  # int64
    positive: np.ndarray  # bool: a positive of at least one of the protocols
    protocols: tuple

    def __len__(self) -> int:
        return len(self.query_ids)

    def __iter__(self):
        return zip(self.query_ids.tolist(), self.index_ids.tolist())

    def __contains__(self, pair) -> bool:
        return tuple(pair) in self._set

    @cached_property  # (written into the instance's __dict__: a frozen dataclass allows it)
    def _set(self) -> set:
        return set(zip(self.query_ids.tolist(), self.index_ids.tolist()))

    def of_query(self, query_id: int) -> np.ndarray:
        """The index ids to localise query ``query_id`` in."""
        return self.index_ids[self.query_ids == query_id]

    def __str__(self) -> str:
        positives = int(self.positive.sum())
        return (f"{len(self)} pairs of {' and '.join(self.protocols)}: {positives} positive (scored), "
                f"{len(self) - positives} junk (read, not scored)")


def pairs_to_predict(dataset, protocols=DEFAULT_PROTOCOLS) -> PairsToPredict:
    """The pairs a method localises the query in, for ``pixret evaluate`` on ``protocols``: the rows of their
    splits, positive and junk (a built folder or Hub id, or an opened dataset). Predictions for other pairs
    (negatives) are ignored and counted; positives without a prediction count as IoU 0."""
    return _pairs(_truth(dataset), protocols)


def _pairs(truth: _Truth, protocols) -> PairsToPredict:
    if isinstance(protocols, str):
        protocols = (protocols,)
    protocols = tuple(protocols)
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown or not protocols:
        raise InputError(f"protocols must name some of {PROTOCOLS}, got {list(protocols)!r}")
    query_ids, index_ids, positive = [], [], []
    for protocol in protocols:
        split = truth.load_split(protocol)
        query_ids.append(np.asarray(split["query_id"], np.int64))
        index_ids.append(np.asarray(split["index_id"], np.int64))
        positive.append(np.asarray(split["positive"], bool))
    query_ids, index_ids, positive = (np.concatenate(a) for a in (query_ids, index_ids, positive))
    keys = query_ids * max(len(truth.index_sizes), 1) + index_ids
    order = np.lexsort((index_ids, query_ids))
    unique, first, inverse = np.unique(keys[order], return_index=True, return_inverse=True)
    any_positive = np.zeros(unique.size, bool)
    np.logical_or.at(any_positive, inverse, positive[order])  # positive in one protocol, junk in another: positive
    rows = order[first]
    return PairsToPredict(query_ids[rows], index_ids[rows], any_positive, protocols)


# ---------------------------------------------------------------- values from a model
def as_numpy(value, name: str) -> np.ndarray:
    """A numpy array of ``value``; a torch tensor is detached and copied to the CPU first (``.detach().cpu()``),
    bfloat16 as float32 (numpy has no bfloat16). Nothing else of torch is needed or imported."""
    if hasattr(value, "detach") and hasattr(value, "cpu") and hasattr(value, "numpy"):  # a torch tensor
        value = value.detach().cpu()
        if str(getattr(value, "dtype", "")) == "torch.bfloat16":
            value = value.float()
        value = value.numpy()
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as err:  # ragged nested lists
        raise InputError(f"{name} is not an array ({str(err).splitlines()[0]})") from None


# ---------------------------------------------------------------- the predictions file
@dataclass
class Written:
    """What a ``PredictionWriter`` wrote, and how it covers the pairs to predict (when it knew the dataset)."""

    path: Path
    count: int  # predictions written
    missing: list = field(default_factory=list)  # positive pairs without a prediction (IoU 0)
    junk_without: int = 0  # junk pairs without a prediction (never scored: nothing is lost)
    extra: list = field(default_factory=list)  # pairs no evaluated split holds: ignored and counted by evaluate
    protocols: tuple | None = None  # None: the dataset was not given, nothing was compared

    def __str__(self) -> str:
        text = f"wrote {self.count} predictions to {self.path}"
        if self.protocols is None:
            return text
        return (f"{text}; for {' and '.join(self.protocols)}: {len(self.missing)} positive pairs without a "
                f"prediction (IoU 0), {len(self.extra)} predictions for pairs no split holds (ignored)")


class PredictionWriter:
    """A predictions file written pair by pair, whole at the end (``close``, or leaving a ``with`` block; nothing
    is written when the block raises).

    ``path``: a new ``.json`` file (``overwrite=True`` replaces a file there). ``dataset`` (a built folder or Hub
    id, or an opened dataset): ids and mask sizes are checked against it as they are added, and ``close`` says
    which positive pairs of ``protocols`` have no prediction and how many predictions no split holds.
    ``box_format`` ("xywh", "xyxy" or "cxcywh", see ``BOX_FORMATS``) and ``normalized`` (coordinates in [0, 1] of
    the image's width and height) declare the boxes given to ``add``, which may also declare their own.
    """

    def __init__(self, path, dataset=None, *, protocols=DEFAULT_PROTOCOLS, box_format: str | None = None,
                 normalized: bool = False, overwrite: bool = False):
        self.path = _check_path(path, overwrite)
        self.box_format = _check_box_format(box_format)
        self.normalized = _check_flag(normalized, "normalized")
        self._truth = None if dataset is None else _truth(dataset)
        self._pairs = None if self._truth is None else _pairs(self._truth, protocols)
        self._entries: dict = {}  # pair -> JSON text of its entry, in the order added
        self._pixel_boxes: list = []  # boxes declared in pixels: one warning if they all look normalised
        self._written: Written | None = None

    # the context manager: written whole on success, nothing on an error
    def __enter__(self) -> "PredictionWriter":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self._finish()
        else:
            self._entries.clear()
            self._written = Written(self.path, 0)  # closed: nothing written

    def add(self, query_id, index_id, *, mask=None, polygon=None, box=None, box_format: str | None = None,
            normalized: bool | None = None, image_size=None) -> None:
        """The prediction of pair (``query_id``, ``index_id``): the query's object in index image ``index_id``.

        ``mask``: a (height, width) bool array (or 0/1, 0/255 integers; a torch tensor too), or a COCO RLE dict
        {"size": [height, width], "counts": str or bytes}; ``polygon``: one contour [[x, y], ...] in pixels (N >=
        1 points; an empty list: no region), alone; ``box``: four numbers in ``box_format`` (this call's, else the
        writer's), in pixels, or with ``normalized`` in [0, 1] of the image, whose ``image_size`` (height, width)
        comes from the dataset or from this argument. A mask and a box may go together (the box is then the
        detection). Raises InputError naming the pair.
        """
        where = Where(f"prediction {len(self._entries)}")
        if self._written is not None:
            raise InputError(f"{where}: the writer is closed ({self.path} is written); open a new one")
        pair = as_id(query_id, where, "query_id"), as_id(index_id, where, "index_id")
        where = where.at(pair)
        self._check_pair(pair, where)
        if all(v is None for v in (mask, polygon, box)):
            raise InputError(f"{where}: give mask=, polygon= or box= (a pair without a prediction is simply not "
                             "added)")
        if polygon is not None and (mask is not None or box is not None):
            raise InputError(f"{where}: a polygon is a prediction of its own: give polygon= alone, or mask= and/or "
                             "box=")
        size = self._image_size(pair, image_size, where)
        entry = {"query_id": pair[0], "index_id": pair[1]}
        if mask is not None:
            entry["segmentation"] = _mask(mask, size, where)
        if polygon is not None:
            entry["polygon"] = _polygon(polygon, where)
        if box is not None:
            box_format = self.box_format if box_format is None else _check_box_format(box_format, where)
            normalized = self.normalized if normalized is None else _check_flag(normalized, "normalized")
            entry["bbox"] = _box(box, box_format, normalized, size, where)
            if not normalized:
                self._pixel_boxes.append(entry["bbox"])
        self._entries[pair] = json.dumps(entry, allow_nan=False)

    def _check_pair(self, pair, where: Where) -> None:
        if pair in self._entries:
            raise InputError(f"{where}: duplicate pair; prediction {list(self._entries).index(pair)} has it already")
        if self._truth is None:
            return
        if not pair[0] < self._truth.num_queries:
            raise InputError(f"{where}: unknown query_id {pair[0]} (the dataset has {self._truth.num_queries} "
                             f"queries, ids 0..{self._truth.num_queries - 1})")
        if not pair[1] < len(self._truth.index_sizes):
            raise InputError(f"{where}: unknown index_id {pair[1]} (the index has {len(self._truth.index_sizes)} "
                             f"images, ids 0..{len(self._truth.index_sizes) - 1})")

    def _image_size(self, pair, given, where: Where) -> tuple[int, int] | None:
        """(height, width) of index image ``pair[1]``: the dataset's, checked against ``given`` when both are."""
        known = None if self._truth is None else tuple(int(v) for v in self._truth.index_sizes[pair[1]])
        if given is None:
            return known
        try:
            height, width = (int(v) for v in given)
            if [height, width] != [float(v) for v in given] or height <= 0 or width <= 0:
                raise ValueError
        except (TypeError, ValueError):
            raise InputError(f"{where}: image_size must be (height, width) positive integers, got {given!r}") \
                from None
        if known is not None and (height, width) != known:
            raise InputError(f"{where}: image_size {(height, width)} but index image {pair[1]} is {known} "
                             "(height, width)" + (": (width, height) given?" if (width, height) == known else ""))
        return height, width

    def close(self) -> Written:
        """Write the file (atomically: a complete file or none) and say how it covers the pairs to predict; warns
        when positive pairs have no prediction or the ids look 1-based. Closing again returns the same."""
        return self._finish()

    def _finish(self) -> Written:  # (close and __exit__ call it at one depth: warnings point at the caller's line)
        if self._written is not None:
            return self._written
        from pixret.outputs import write_text

        if not self._entries:
            raise InputError(f"{self.path}: no prediction was added (an empty file would score 0 everywhere): "
                             "nothing written")
        self._warn_normalised_boxes()
        written = Written(self.path, len(self._entries))
        if self._pairs is not None:
            written = self._coverage(written)
        write_text(self.path, "[\n" + ",\n".join(self._entries.values()) + "\n]\n")
        self._entries.clear()
        self._written = written
        return written

    def _coverage(self, written: Written) -> Written:
        pairs = self._pairs
        given = set(self._entries)
        held = pairs._set
        written.protocols = pairs.protocols
        written.missing = [p for p, positive in zip(pairs, pairs.positive) if positive and p not in given]
        written.junk_without = sum(1 for p, positive in zip(pairs, pairs.positive) if not positive and p not in given)
        written.extra = [p for p in self._entries if p not in held]
        shifted = shifted_ids(given, held)
        if shifted and 2 * len(written.extra) > len(given):
            warnings.warn(f"{self.path}: {shifted}: the ids look 1-based (they are 0-based: revisitop's positions); "
                          "pixret evaluate refuses such a file unless told the ids are right", UserWarning,
                          stacklevel=4)
        elif written.missing:
            shown = ", ".join(map(str, written.missing[:SHOWN])) + (" ..." if len(written.missing) > SHOWN else "")
            warnings.warn(f"{self.path}: {len(written.missing)} of {int(pairs.positive.sum())} positive pairs of "
                          f"{' and '.join(pairs.protocols)} have no prediction ({shown}): they count as IoU 0 "
                          "(pixret.pairs_to_predict lists the pairs to localise)", UserWarning, stacklevel=4)
        return written

    def _warn_normalised_boxes(self) -> None:
        boxes = np.asarray(self._pixel_boxes, np.float64).reshape(-1, 4)
        if len(boxes) and (boxes[:, 2:] > 0).any() and (np.abs(boxes) <= 1).all():
            warnings.warn(f"{self.path}: every box given in pixels ({len(boxes)}) lies within [0, 1]: normalised "
                          "coordinates? declare them with normalized=True", UserWarning, stacklevel=4)


def write_predictions(path, items, dataset=None, *, protocols=DEFAULT_PROTOCOLS, box_format: str | None = None,
                      normalized: bool = False, overwrite: bool = False) -> Written:
    """Write a predictions file at once from ``items``: dicts with ``query_id``, ``index_id`` and the arguments of
    ``PredictionWriter.add`` (``mask``, ``polygon``, ``box``, ``box_format``, ``normalized``, ``image_size``), or
    a {(query_id, index_id): mask} mapping (bool arrays or RLEs). The other arguments are the writer's."""
    with PredictionWriter(path, dataset, protocols=protocols, box_format=box_format, normalized=normalized,
                          overwrite=overwrite) as out:
        if isinstance(items, dict):
            for pair, mask in items.items():
                if not isinstance(pair, tuple) or len(pair) != 2:
                    raise InputError(f"items: a mapping's keys are (query_id, index_id) pairs, got {pair!r}")
                out.add(*pair, mask=mask)
        else:
            for n, item in enumerate(items):
                if not isinstance(item, dict):
                    raise InputError(f"items[{n}]: expected a dict with query_id, index_id and mask, polygon or "
                                     f"box, got {type(item).__name__}")
                unknown = sorted(set(item) - set(_ITEM_KEYS))
                if unknown or "query_id" not in item or "index_id" not in item:
                    hint = {"segmentation": " (pass the mask or RLE as mask)", "bbox": " (pass it as box, with "
                            "box_format)"}.get(unknown[0], "") if unknown else ""
                    raise InputError(f"items[{n}]: " + (f"unknown key {unknown[0]!r}{hint}; " if unknown else
                                                        "needs query_id and index_id; ")
                                     + f"accepted keys: {', '.join(_ITEM_KEYS)}")
                out.add(**item)
    return out.close()


_ITEM_KEYS = ("query_id", "index_id", "mask", "polygon", "box", "box_format", "normalized", "image_size")


def _check_path(path, overwrite: bool) -> Path:
    from pixret.outputs import _kind

    path = Path(path)
    if path.suffix.lower() != ".json":
        raise InputError(f"path {path}: the writer writes pixret's JSON format: name the file *.json")
    if not path.parent.is_dir():
        raise InputError(f"path {path}: folder {path.parent} not found")
    try:
        kind = _kind(path.stat().st_mode)
    except FileNotFoundError:
        return path
    if kind:
        raise InputError(f"path {path} is {kind}: name a file to write")
    if not _check_flag(overwrite, "overwrite"):
        raise InputError(f"path {path} exists: pass overwrite=True to replace it")
    return path


def _check_flag(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _check_box_format(box_format, where: Where | None = None) -> str | None:
    if box_format is not None and box_format not in BOX_FORMATS:
        raise InputError(("" if where is None else f"{where}: ") + f"box_format must be one of {list(BOX_FORMATS)} (" + "; ".join(
            f"{k}: {v}" for k, v in BOX_FORMATS.items()) + f"), got {box_format!r}")
    return box_format


def _mask(mask, size, where: Where) -> dict:
    """A mask (array or RLE) as the RLE written, checked, of ``size`` when known."""
    if isinstance(mask, dict):
        try:
            checked = rle.from_coco(rle.validate([mask])[0])
        except rle.RLEProblem as err:
            raise InputError(f"{where}: mask: {err.problem}") from None
    else:
        array = as_numpy(mask, f"{where}: mask")
        if array.ndim == 2 and array.shape[1] == 2 and array.dtype.kind == "f" and array.shape[0] != 2:
            raise InputError(f"{where}: mask is an N x 2 array of numbers: a polygon? pass it as polygon=")
        try:
            checked = masklib.encode(array)
        except masklib.MaskError as err:
            raise InputError(f"{where}: mask: {err}") from None
    if size is not None and tuple(checked["size"]) != tuple(size):
        height, width = checked["size"]
        transposed = ": transposed? a mask is (height, width)" if (width, height) == tuple(size) else ""
        raise InputError(f"{where}: mask is {height}x{width} but index image {where.pair[1]} is {size[0]}x{size[1]} "
                         f"(height x width){transposed}")
    return {"size": [int(v) for v in checked["size"]], "counts": str(checked["counts"])}


def _polygon(polygon, where: Where) -> list:
    """One contour as [[x, y], ...] floats (N >= 1 points), or [] (no region)."""
    array = as_numpy(polygon, f"{where}: polygon")
    if array.size == 0:
        return []
    if array.ndim == 1 and array.size % 2 == 0 and array.size >= 2 and array.dtype.kind in "iuf":
        raise InputError(f"{where}: polygon is a flat list of {array.size} numbers: give [[x, y], ...] pairs "
                         "(numpy: np.reshape(points, (-1, 2)))")
    if array.ndim == 3:
        raise InputError(f"{where}: polygon is {array.shape[0]} contours: a prediction is one contour (fill several "
                         "into one mask: pixret.masks.from_polygons, and pass mask=)")
    if array.ndim != 2 or array.shape[1] != 2 or array.dtype.kind not in "iuf" or array.dtype == bool:
        raise InputError(f"{where}: polygon must be [[x, y], ...] numbers (one contour), got shape {array.shape} of "
                         f"{array.dtype}")
    if not np.isfinite(array).all():
        raise InputError(f"{where}: polygon has a point that is not finite (NaN or infinity)")
    return array.astype(np.float64).tolist()


def _box(box, box_format: str | None, normalized: bool, size, where: Where) -> list[float]:
    """A box in ``box_format`` (and ``normalized``) as pixel [x, y, w, h]."""
    if box_format is None:
        raise InputError(f"{where}: box given without a box_format: declare it (PredictionWriter(box_format=...) or "
                         f"add(..., box_format=...)), one of " + "; ".join(f"{k}: {v}" for k, v in BOX_FORMATS.items()))
    array = as_numpy(box, f"{where}: box")
    if array.shape != (4,) or array.dtype.kind not in "iuf" or array.dtype == bool:
        raise InputError(f"{where}: box must be 4 numbers ({BOX_FORMATS[box_format]}), got {box!r}")
    a, b, c, d = array.astype(np.float64).tolist()
    if not np.isfinite(array.astype(np.float64)).all():
        raise InputError(f"{where}: box has a value that is not finite (NaN or infinity): {box!r}")
    if box_format == "xywh":
        x, y, w, h = a, b, c, d
    elif box_format == "xyxy":
        x, y, w, h = a, b, c - a, d - b
    else:
        x, y, w, h = a - c / 2, b - d / 2, c, d
    if w < 0 or h < 0:
        raise InputError(f"{where}: box {box!r} as {box_format} ({BOX_FORMATS[box_format]}) has a negative width "
                         f"or height: " + ("x2 < x1 or y2 < y1: not corners?" if box_format == "xyxy" else
                                           "another box_format?"))
    if normalized:
        if size is None:
            raise InputError(f"{where}: a normalized box needs the image's size: give the writer the dataset, or "
                             "add(..., image_size=(height, width))")
        if max(abs(v) for v in (a, b, c, d)) > 1.5:
            raise InputError(f"{where}: box {box!r} is declared normalized but has values past 1: pixels? "
                             "(normalized=False)")
        height, width = size
        x, y, w, h = x * width, y * height, w * width, h * height
    return [float(x), float(y), float(w), float(h)]


# ---------------------------------------------------------------- ranks
RANKS_MEMORY = 1 << 26  # bytes of scores partitioned per pass (a block of query rows): bounded on 70 x 1M


def ranks_from_scores(scores, top_k: int | None = None, *, dataset=None, distractors: int = 0) -> np.ndarray:
    """Ranks as the metric takes them, (num_queries, K) int64 index ids, best first.

    ``scores``: a (num_queries, num_index) array of similarities, higher = better (a numpy array, or a torch tensor:
    detached and copied to the CPU); equal scores rank by index id, lower first; NaN is refused. Or a list of
    per-query lists of index ids, best first (each row as long as the others, or cut to ``top_k``). ``top_k``:
    keep the K best per query (all when None). ``dataset`` (a built folder, Hub id or opened dataset): the
    number of queries and of index images (plus ``distractors``, the R1M ids after the index) are checked.
    """
    if top_k is not None and (isinstance(top_k, (bool, np.bool_)) or not isinstance(top_k, (int, np.integer))
                              or top_k < 1):
        raise InputError(f"top_k must be a positive integer (or None: every index image), got {top_k!r}")
    if isinstance(distractors, (bool, np.bool_)) or not isinstance(distractors, (int, np.integer)) or distractors < 0:
        raise InputError(f"distractors must be a non-negative integer, got {distractors!r}")
    truth = None if dataset is None else _truth(dataset)
    expected = None if truth is None else (truth.num_queries, len(truth.index_sizes) + int(distractors))
    if isinstance(scores, (list, tuple)):
        return _ranks_from_ids(scores, top_k, expected)
    array = as_numpy(scores, "scores")
    if array.ndim != 2:
        raise InputError(f"scores must be a (num_queries, num_index) array, got shape {array.shape}"
                         + ("; a list of per-query id lists goes as a list" if array.dtype == object else ""))
    if array.dtype.kind not in "iufb":
        raise InputError(f"scores must be numbers, got dtype {array.dtype}")
    if expected is not None and array.shape != expected:
        columns = (f"{expected[1] - distractors} index images + {distractors} distractors" if distractors else
                   f"{expected[1]} index images")
        raise InputError(f"scores has shape {array.shape} but the dataset has {expected[0]} queries and {columns}"
                         + ("; scores (num_index, num_queries)? pass scores.T" if array.shape == expected[::-1] else
                            "; index ids of a ranking? pass them as a list of per-query lists (ids.tolist())"
                            if array.dtype.kind in "iu" and array.shape[0] == expected[0] else ""))
    if array.dtype.kind == "f":
        nan = np.isnan(array)
        if nan.any():
            q, i = (int(v) for v in np.argwhere(nan)[0])
            raise InputError(f"scores has {int(nan.sum())} NaN values (the first: query row {q}, index column {i}): "
                             "a NaN has no rank; replace them (e.g. np.nan_to_num(scores, nan=-np.inf))")
    if array.dtype.kind in "iu" and array.shape[1] > 1 and _rows_distinct(array):
        warnings.warn(f"scores are integers, distinct within every row: index ids of a ranking? those go as a list of "
                      "per-query lists (ids.tolist()); read here as scores, higher = better", UserWarning,
                      stacklevel=2)
    return _rank(array, top_k)


def _rows_distinct(array: np.ndarray) -> bool:
    """Whether every row holds each value once (sorted a block of rows at a time: memory bounded)."""
    block = max(1, RANKS_MEMORY // max(1, array.shape[1] * array.itemsize))
    for start in range(0, len(array), block):
        ordered = np.sort(array[start:start + block], axis=1)
        if (ordered[:, 1:] == ordered[:, :-1]).any():
            return False
    return True


def _rank(scores: np.ndarray, top_k: int | None) -> np.ndarray:
    """Index ids by score, best first, ties by id: a stable sort of the columns reversed, read backwards (no
    negation: unsigned and extreme integers keep their order). With ``top_k`` < num_index, a partition first."""
    num_queries, num_index = scores.shape
    k = num_index if top_k is None else min(int(top_k), num_index)
    out = np.empty((num_queries, k), np.int64)
    if num_index == 0 or num_queries == 0:
        return out
    block = max(1, RANKS_MEMORY // max(1, num_index * scores.itemsize))
    for start in range(0, num_queries, block):
        rows = scores[start:start + block]
        out[start:start + len(rows)] = _top(rows, k) if k < num_index else _order(rows, np.arange(num_index))
    return out


def _order(values: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``ids`` (per row, as ``values``) ordered by value descending, then id ascending (``ids`` ascending by column
    on entry)."""
    reverse = np.argsort(values[:, ::-1], axis=1, kind="stable")[:, ::-1]
    columns = values.shape[1] - 1 - reverse
    return np.take_along_axis(np.broadcast_to(ids, values.shape), columns, axis=1)


def _top(rows: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` best ids of each row (ties at the cut: the lower ids), ordered."""
    num_index = rows.shape[1]
    cut = np.partition(rows, num_index - k, axis=1)[:, num_index - k:num_index - k + 1]  # each row's k-th largest
    kept = rows >= cut
    exact = kept.sum(axis=1) == k  # no tie at the cut beyond the k: the kept ids are the k (nonzero: in id order)
    out = np.empty((len(rows), k), np.int64)
    if exact.any():
        ids = np.nonzero(kept[exact])[1].reshape(-1, k)
        out[exact] = _order(np.take_along_axis(rows[exact], ids, axis=1), ids)
    for r in np.flatnonzero(~exact):  # ties at the cut: the ids above it, then the lowest ids at it
        above = np.flatnonzero(rows[r] > cut[r, 0])
        chosen = np.concatenate([above, np.flatnonzero(rows[r] == cut[r, 0])[:k - above.size]])
        chosen.sort()
        out[r] = _order(rows[r, chosen][None, :], chosen[None, :])[0]
    return out


def _ranks_from_ids(rows, top_k: int | None, expected) -> np.ndarray:
    """Per-query lists of index ids, best first, as a (num_queries, K) array, checked."""
    lengths = [len(row) if hasattr(row, "__len__") else -1 for row in rows]
    if -1 in lengths:
        n = lengths.index(-1)
        raise InputError(f"scores[{n}]: a list of per-query id lists holds lists, got {type(rows[n]).__name__}")
    if expected is not None and len(rows) != expected[0]:
        raise InputError(f"scores holds {len(rows)} id lists but the dataset has {expected[0]} queries")
    k = min(lengths, default=0) if top_k is None else int(top_k)
    short = [n for n, length in enumerate(lengths) if length < k]
    if short or (top_k is None and len(set(lengths)) > 1):
        n = short[0] if short else lengths.index(min(lengths))
        raise InputError(f"scores[{n}] holds {lengths[n]} ids, " + (
            f"fewer than top_k={top_k}" if short else f"others {max(lengths)}")
            + f": rows must be as long as each other; pass top_k={min(lengths)} to keep that many of each")
    array = np.empty((len(rows), k), np.int64)
    for n, row in enumerate(rows):
        values = as_numpy(row, f"scores[{n}]")[:k]
        if values.size and (values.dtype.kind not in "iuf" or values.dtype == bool
                            or (values.dtype.kind == "f" and (values != np.round(values)).any())):
            raise InputError(f"scores[{n}]: index ids must be integers, got {values[:SHOWN].tolist()} ... (a list is "
                             "read as per-query lists of index ids; scores go as one array: np.stack(rows))")
        array[n] = values
    if (array < 0).any():
        n, j = (int(v) for v in np.argwhere(array < 0)[0])
        raise InputError(f"scores[{n}][{j}] is {array[n, j]}: index ids are >= 0"
                         + (" (-1: a search library's 'no result'? cut the rows with top_k)" if array[n, j] == -1
                            else ""))
    if expected is not None and array.size and array.max() >= expected[1]:
        n, j = (int(v) for v in np.argwhere(array >= expected[1])[0])
        raise InputError(f"scores[{n}][{j}] is index id {array[n, j]}, past the {expected[1]} index images "
                         f"(ids 0..{expected[1] - 1})" + (": 1-based?" if array[n, j] == expected[1] else ""))
    ordered = np.sort(array, axis=1)
    repeated = np.argwhere(ordered[:, 1:] == ordered[:, :-1])
    if repeated.size:
        n, j = (int(v) for v in repeated[0])
        raise InputError(f"scores[{n}] lists index id {ordered[n, j]} twice: a ranking names each image once")
    return array
