"""The benchmark authors' result files, read as they are (their repository's ``evaluation_code`` layout).

- matching result, ``<method>/matching_result/{proxford,prparis}.npy``: ``np.save`` of a dict
  ``"qimlist_<query id>_imlist_<index id>"`` -> N x 2 points (x, y) outlining the region the
  method found in that index image; an empty list means no region for that pair. Their older
  files have (row, col) points: ``points_order="rowcol"``. Read with the restricted unpickler
  (no code in the file runs), every entry checked.
- image-level rankings: ``.npy`` of index ids, (database, queries) (revisitop's layout, R1M's
  distractor ids after the index): ``results.read_ranks`` reads them as they are.

Each region becomes a pixret prediction ``{"polygon": points}``, as they are (any number of points from 1):
official scoring gives it the authors' IoU procedure on the released shapes (``authors_iou``); official=False
fills it exactly and clips it to the image (``polygons.fill``).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
from ..core.authors_iou import LIMIT, check_points
from ..core.benchmarks import BENCHMARKS
from ..core.errors import InputError
from ..core.predictions import one_based
from .safe_pickle import load_npy_object

PREDICTION_FORMATS = ("pixret", "authors")
POINT_ORDERS = ("xy", "rowcol")
KEY = re.compile(r"qimlist_(0|[1-9][0-9]*)_imlist_(0|[1-9][0-9]*)")  # the authors write str(id): no leading zeros
MAX_POINTS = 2**24  # points of all scored regions together: each is filled on its own (~1 s per 10 M points)
SHOWN = 3  # entries named in a warning


class AuthorsFormatError(InputError):
    """An authors' result file is malformed or does not fit the dataset."""


def predictions_format(path, given: str | None = None) -> str:
    """The format of a predictions file: ``given``, or by its suffix (``.npy``: the authors' matching result)."""
    path = Path(path)
    if given is None:
        return "authors" if path.suffix.lower() == ".npy" else "pixret"
    if given not in PREDICTION_FORMATS:
        raise AuthorsFormatError(f"unknown predictions format {given!r}; expected one of {PREDICTION_FORMATS}")
    if given == "pixret" and path.suffix.lower() == ".npy":
        raise AuthorsFormatError(f"{path}: pixret predictions are JSON or Parquet; an .npy is the authors' matching "
                                 "result (predictions_format='authors')")
    return given


def method_name(path) -> str:
    """The method a result file is of: ``<method>`` in the authors' ``<method>/matching_result/<benchmark>.npy``."""
    path = Path(path)
    return path.parent.parent.name if path.parent.name == "matching_result" and path.parent.parent.name else path.stem


def read_matching_result(path, num_queries: int, index_sizes, points_order: str = "xy", pairs=None,
                         benchmark: str | None = None, progress=None) -> dict:
    """{(query_id, index_id): {"polygon": N x 2 points (x, y)} or None (an empty point list)} from an authors'
    matching result.

    ``index_sizes[i]`` = (height, width) of index image i (for the warnings). Every entry is checked; only the
    ``pairs`` given (the pairs that are scored, e.g. a split's positives and junk) are returned, all when None.
    ``benchmark`` (the dataset's) is compared with the file's name; ``progress`` wraps the entries (a tqdm bar).
    Memory follows the file's content: entries that share one array (a pickle can point many keys at one
    object) share it here too, and are checked once.
    """
    if points_order not in POINT_ORDERS:
        raise AuthorsFormatError(f"unknown points order {points_order!r}; expected one of {POINT_ORDERS}")
    path = Path(path)
    if not path.is_file():
        raise AuthorsFormatError(f"{path}: predictions file not found" if not path.exists() else f"{path}: not a file")
    data = load_npy_object(path, AuthorsFormatError)
    if not isinstance(data, dict):
        raise AuthorsFormatError(f"{path}: expected a dict 'qimlist_<query id>_imlist_<index id>' -> N x 2 points "
                                 f"(np.save of a dict), got {type(data).__name__}")
    if not data:
        raise AuthorsFormatError(f"{path}: holds no entries (an empty file would score 0 everywhere)")
    _check_name(path, benchmark)
    wanted = None if pairs is None else set(pairs)
    out, keys, pairs_read, regions = {}, [], [], []  # the entries with points: their keys, pairs, region numbers
    distinct: dict[int, int] = {}  # id(value) -> its region number (values kept alive by ``data``)
    arrays: list[np.ndarray] = []  # each distinct region, (x, y)
    first_key: dict[int, str] = {}  # region number -> the first key that has it
    returned = 0  # points of the entries returned (each is rasterised on its own)
    for key, value in (progress or _quiet)(data.items(), total=len(data), desc=f"reading {path.name}"):
        pair = _pair(key, path, num_queries, len(index_sizes))
        region = distinct.get(id(value))
        if region is None:
            points = _points(value, path, key)
            region = distinct[id(value)] = len(arrays)
            arrays.append(None if points is None else points[:, ::-1] if points_order == "rowcol" else points)
            first_key[region] = key
        points = arrays[region]
        if wanted is None or pair in wanted:
            out[pair] = None if points is None else {"polygon": points}
            returned += 0 if points is None else len(points)
            if returned > MAX_POINTS:
                raise AuthorsFormatError(f"{path}: the regions of the scored pairs hold more than {MAX_POINTS:,} "
                                         "points in all (entries sharing one array count once per entry: each is "
                                         "filled on its own); a region outline needs far fewer")
        if points is not None:
            keys.append(key)
            pairs_read.append(pair)
            regions.append(region)
    _check_values(arrays, first_key, path)
    shifted = None if wanted is None else one_based(pairs_read, wanted)
    if shifted:
        warnings.warn(f"{path}: {shifted}: the ids of the keys look 1-based (they are 0-based: revisitop's "
                      "positions, as the authors' evaluation looks them up)", stacklevel=2)
    if keys:
        low = np.array([a.min(0) if a is not None else (0, 0) for a in arrays], np.float64)[regions]
        high = np.array([a.max(0) if a is not None else (0, 0) for a in arrays], np.float64)[regions]
        _warn_suspicious(keys, pairs_read, low, high, index_sizes, points_order)
    return out


def _quiet(items, **_):
    return items


def _check_name(path: Path, benchmark: str | None) -> None:
    named = path.stem.lower()
    if benchmark in BENCHMARKS and named in BENCHMARKS and named != benchmark:
        warnings.warn(f"{path}: the file is named for {BENCHMARKS[named].pretty_name} but the dataset is "
                      f"{BENCHMARKS[benchmark].pretty_name}: is it the other benchmark's matching result?",
                      stacklevel=3)


def _pair(key, path: Path, num_queries: int, index_size: int) -> tuple[int, int]:
    """(query id, index id) of a key 'qimlist_<q>_imlist_<i>', within the dataset."""
    match = KEY.fullmatch(key) if isinstance(key, str) else None
    if match is not None and int(match[1]) < num_queries and int(match[2]) < index_size:
        return int(match[1]), int(match[2])
    where = f"{path}: entry {key!r}"
    if match is None:
        hint = ""
        if isinstance(key, str) and re.fullmatch(r"[0-9]+_[0-9]+", key):
            hint = (" ('q_i' keys are the authors' IoU file or pair-to-label dict; the matching result is "
                    "matching_result/<benchmark>.npy)")
        elif isinstance(key, str) and re.fullmatch(r"qimlist_[0-9]+_imlist_[0-9]+", key):
            hint = " (ids without leading zeros, as the authors' evaluation looks them up)"
        raise AuthorsFormatError(f"{where}: a key must be 'qimlist_<query id>_imlist_<index id>'{hint}")
    q, i = int(match[1]), int(match[2])
    if q >= num_queries:
        raise AuthorsFormatError(f"{where}: query id {q} is not in the dataset ({num_queries} queries, ids 0.."
                                 f"{num_queries - 1})")
    raise AuthorsFormatError(f"{where}: index id {i} is not in the index ({index_size} images, ids 0.."
                             f"{index_size - 1})")


def _points(value, path: Path, key) -> np.ndarray | None:
    """The N x 2 points of an entry (None: an empty list, no region), checked but for their values
    (``_check_values`` checks every region's at once)."""
    where = f"{path}: entry {key!r}"
    if isinstance(value, np.ndarray) and value.ndim == 2 and value.shape[1] == 2 and len(value) \
            and value.dtype.kind in "iuf":
        return value  # the common case, quickly
    if not isinstance(value, (list, tuple, np.ndarray)) or isinstance(value, np.ndarray) and value.ndim == 0:
        got = "a 0-d array" if isinstance(value, np.ndarray) else type(value).__name__
        raise AuthorsFormatError(f"{where}: expected an N x 2 list or array of points, got {got}")
    if len(value) == 0:
        return None
    try:
        points = np.asarray(value)
    except (ValueError, TypeError):
        raise AuthorsFormatError(f"{where}: points must be an N x 2 array of numbers; rows of different "
                                 "lengths") from None
    if points.dtype.kind not in "iuf":
        raise AuthorsFormatError(f"{where}: points must be numbers, got {points.dtype} values")
    if points.ndim != 2 or points.shape[1] != 2:
        hint = (" (2 x N: transpose it)" if points.ndim == 2 and points.shape[0] == 2 else
                " (a flat list of coordinates? pair them as [[x, y], ...])" if points.ndim == 1 else "")
        raise AuthorsFormatError(f"{where}: points must be an N x 2 array, got shape {points.shape}{hint}")
    return points


def _check_values(arrays: list, keys_of: dict, path: Path) -> None:
    """Every distinct region's coordinates (``check_points``), in one pass over all of them; ``keys_of[k]`` is the
    first key of region k, for the message."""
    regions = [k for k, a in enumerate(arrays) if a is not None]
    if not regions:
        return
    counts = np.fromiter((len(arrays[k]) for k in regions), np.int64, len(regions))
    stacked = np.concatenate([arrays[k] for k in regions], dtype=np.float64)  # the distinct content, once
    bad = ~np.isfinite(stacked).all(1) | (np.abs(stacked) >= LIMIT + 1).any(1)
    if bad.any():
        n = int(np.searchsorted(np.cumsum(counts), int(np.argmax(bad)), side="right"))
        try:
            check_points(np.asarray(arrays[regions[n]], np.float64), f"{path}: entry {keys_of[regions[n]]!r}")
        except InputError as err:
            raise AuthorsFormatError(str(err)) from None

# ---------------------------------------------------------------- legal but suspicious
def _warn_suspicious(keys: list, pairs: list, low: np.ndarray, high: np.ndarray, index_sizes, points_order: str) -> None:
    """Regions outside their image (all of them, or read in the wrong order).

    ``low`` / ``high``: each region's smallest and largest (x, y).
    """
    size = np.array([index_sizes[i][::-1] for _, i in pairs], np.float64)  # width, height
    outside = (high <= 0).any(1) | (low >= size).any(1)
    other = "rowcol" if points_order == "xy" else "xy"
    overflow = (low < -1).any(1) | (high > size + 1).any(1)
    fits_swapped = (low[:, ::-1] >= -1).all(1) & (high[:, ::-1] <= size + 1).all(1)
    if len(keys) >= 3 and overflow.mean() > 0.5 and fits_swapped.all():
        warnings.warn(f"the points look like ({_order(other)}), not ({_order(points_order)}): {int(overflow.sum())} "
                      f"of {len(keys)} regions leave their image read as ({_order(points_order)}), all fit read as "
                      f"({_order(other)}); if they are, pass points_order={other!r}", stacklevel=3)
    elif outside.any():
        first = [f"{keys[k]!r} (x {low[k, 0]:g}..{high[k, 0]:g}, y {low[k, 1]:g}..{high[k, 1]:g} in "
                 f"{size[k, 0]:g} x {size[k, 1]:g})" for k in np.flatnonzero(outside)[:SHOWN]]
        warnings.warn(f"{int(outside.sum())} of {len(keys)} regions lie wholly outside their index image: "
                      f"{', '.join(first)}{' ...' if outside.sum() > SHOWN else ''} (scored as the authors do: on their "
                      "canvas, where a negative box corner wraps to the far side; official=False: IoU 0)",
                      stacklevel=3)


def _order(points_order: str) -> str:
    return "x, y" if points_order == "xy" else "row, col"
