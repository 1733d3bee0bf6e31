"""A method's results: prediction and ranking files, read strictly, and scored protocol by protocol.

Inside pixret a method's predictions have one shape, keyed by pair::

    {(query_id, index_id): {"mask": RLE or None, "bbox": [x, y, w, h] or None}}

``read_predictions`` makes it from a file, ``align`` lines it up with the rows of a
pairs split (the list the metric takes), ``score_protocols`` scores every protocol.

Files:
- predictions: a COCO-results-style JSON list, as detection toolkits write it, of
  ``{"query_id", "index_id", "segmentation": RLE and/or "bbox": [x, y, w, h]}``
  (``mask`` is accepted for ``segmentation``; ``score`` and ``category_id`` are ignored),
  or Parquet with those columns;
- rankings: ``.npy`` of index ids, ours (num_queries, K) or revisitop's (K, num_queries).
Every problem is a ``ResultsError`` naming the file, the entry and its pair.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from . import rle
from .errors import InputError
from .scoring import check_box, evaluate_pixel_retrieval

ENTRY_KEYS = ("query_id", "index_id", "segmentation", "mask", "bbox", "score", "category_id")


class ResultsError(InputError):
    """A results file is malformed or does not fit the dataset."""


# ---------------------------------------------------------------- predictions
def read_predictions(path, num_queries: int, index_sizes) -> dict:
    """{(query_id, index_id): {"mask", "bbox"}} from a predictions file, every entry checked.

    ``index_sizes[i]`` = (height, width) of index image i: masks must have that size.
    """
    path = Path(path)
    entries = _read_entries(path)
    if not entries:
        raise ResultsError(f"{path}: holds no predictions (an empty file would score 0 everywhere)")
    out, where_of, masks, mask_pairs = {}, {}, [], []
    for n, entry in enumerate(entries):
        where = f"{path}: entry {n}"
        if not isinstance(entry, dict):
            raise ResultsError(f"{where}: expected an object with query_id, index_id, segmentation and/or bbox")
        try:
            pair = _integer(entry["query_id"]), _integer(entry["index_id"])
        except (KeyError, TypeError, ValueError, OverflowError):
            hint = (" (COCO's image_id: a pixret result names its pair with query_id and index_id)"
                    if "image_id" in entry else "")
            raise ResultsError(f"{where}: needs integer query_id and index_id{hint}") from None
        q, i = pair
        where = f"{where} (pair ({q}, {i}))"
        unknown = [k for k in entry if k not in ENTRY_KEYS]
        if unknown:
            raise ResultsError(f"{where}: unknown key {unknown[0]!r}; accepted keys: {', '.join(ENTRY_KEYS)}")
        if not 0 <= q < num_queries:
            raise ResultsError(f"{where}: unknown query_id {q} (the dataset has {num_queries} queries, ids 0.."
                               f"{num_queries - 1})")
        if not 0 <= i < len(index_sizes):
            raise ResultsError(f"{where}: unknown index_id {i} (the index has {len(index_sizes)} images, ids 0.."
                               f"{len(index_sizes) - 1})")
        if pair in out:
            raise ResultsError(f"{where}: duplicate pair; {where_of[pair]} has it too")
        if entry.get("mask") is not None and entry.get("segmentation") is not None:
            raise ResultsError(f"{where}: has both 'mask' and 'segmentation' (the same field): keep one")
        mask = entry.get("segmentation", entry.get("mask"))
        box = entry.get("bbox")
        if mask is None and box is None:
            raise ResultsError(f"{where}: has neither segmentation nor bbox")
        if mask is not None:
            if isinstance(mask, list):
                raise ResultsError(f"{where}: segmentation must be a COCO RLE {{size, counts}}; polygons: "
                                   "convert with pycocotools.mask.frPyObjects")
            masks.append(mask)
            mask_pairs.append(pair)
        out[pair] = {"mask": None, "bbox": None if box is None else _box(box, where)}
        where_of[pair] = where.split(": ", 1)[1]
    coco, problems = rle.check(masks)
    for pair, rle_, problem in zip(mask_pairs, coco, problems):
        where = f"{path}: {where_of[pair]}"
        if problem:
            raise ResultsError(f"{where}: segmentation: {problem}")
        expected = [int(v) for v in index_sizes[pair[1]]]
        if rle_["size"] != expected:
            raise ResultsError(f"{where}: mask size {rle_['size']} but index image {pair[1]} is {expected} "
                               "(height, width)")
        out[pair]["mask"] = rle.from_coco(rle_)
    return out


def _integer(value) -> int:
    """An id: an integer, or a float with an integral value (3.0); not a bool, not a string."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError
    if float(value) != int(value):
        raise ValueError
    return int(value)


def _box(box, where: str) -> list:
    try:
        return check_box(box, where).tolist()
    except ValueError as err:
        raise ResultsError(str(err)) from None


def _read_entries(path: Path) -> list:
    if not path.exists():
        raise ResultsError(f"{path}: predictions file not found")
    if not path.is_file():
        raise ResultsError(f"{path}: not a file")
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as err:  # noqa: BLE001 - any reader failure is a bad file
            raise ResultsError(f"{path}: not a readable Parquet file ({str(err).splitlines()[0]})") from None
        if len(set(table.column_names)) != len(table.column_names):
            raise ResultsError(f"{path}: Parquet with a column name twice ({table.column_names})")
        missing = {"query_id", "index_id"} - set(table.column_names)
        if missing:
            raise ResultsError(f"{path}: Parquet lacks the columns {sorted(missing)}")
        rows = table.to_pylist()
        for row in rows:  # a column that is null in one row is absent there
            for key in [k for k, v in row.items() if v is None and k in ("segmentation", "mask", "bbox")]:
                del row[key]
        return rows
    try:
        data = json.loads(path.read_bytes(), object_pairs_hook=_object)
    except RecursionError:
        raise ResultsError(f"{path}: not valid JSON for predictions (nested too deeply)") from None
    except (UnicodeDecodeError, ValueError) as err:  # JSONDecodeError, and numbers Python refuses to parse
        raise ResultsError(f"{path}: not valid JSON ({str(err).splitlines()[0]})") from None
    except OSError as err:
        raise ResultsError(f"{path}: cannot read ({err.strerror or err})") from None
    if not isinstance(data, list):
        raise ResultsError(f"{path}: expected a JSON list of predictions, got {type(data).__name__}")
    return data


def _object(pairs: list) -> dict:
    """A JSON object, refusing a key given twice (json would keep the last one without a word)."""
    keys = [k for k, _ in pairs]
    twice = next((k for k in keys if keys.count(k) > 1), None)
    if twice is not None:
        raise ValueError(f"an object has the key {twice!r} twice")
    return dict(pairs)


def align(by_pair: dict, split) -> list:
    """The predictions of the split's rows, in row order (None where a pair has none).

    Each carries its pair, which the metric checks against the row. Predictions of
    pairs the split does not hold (negatives, other protocols) are not scored.
    """
    query_ids, index_ids = (split["query_id"], split["index_id"]) if hasattr(split, "column_names") else (
        [row["query_id"] for row in split], [row["index_id"] for row in split])
    out = []
    for q, i in zip(query_ids, index_ids):
        prediction = by_pair.get((q, i))
        out.append(None if prediction is None else
                   {"mask": prediction.get("mask"), "bbox": prediction.get("bbox"), "query_id": q, "index_id": i})
    return out


# ---------------------------------------------------------------- rankings
def read_ranks(path, num_queries: int, layout: str | None = None) -> np.ndarray:
    """Rankings as (num_queries, K), memory-mapped: revisitop's (K, num_queries) is transposed (a view).

    ``layout`` "queries-first" (ours) or "revisitop"; required when both dimensions equal num_queries.
    """
    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"{path}: ranks file not found" if not path.exists() else f"{path}: not a file")
    if path.suffix.lower() == ".npz":
        raise ResultsError(f"{path}: an .npz archive; save the one ranks array with np.save(path.npy, ranks)")
    try:
        ranks = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise ResultsError(f"{path}: not a plain .npy array of index ids ({err})") from None
    if not isinstance(ranks, np.ndarray):
        raise ResultsError(f"{path}: not a .npy array")
    if ranks.ndim != 2:
        raise ResultsError(f"{path}: ranks must be 2-D, got shape {ranks.shape}")
    if ranks.dtype.kind not in "iu":
        raise ResultsError(f"{path}: ranks must be integer index ids, got dtype {ranks.dtype}")
    if layout is None:
        fits = [name for name, rows in (("queries-first", ranks.shape[0]), ("revisitop", ranks.shape[1]))
                if rows == num_queries]
        if len(fits) != 1:
            raise ResultsError(f"{path}: shape {ranks.shape} with {num_queries} queries is "
                               + ("ambiguous" if fits else "neither (num_queries, K) nor (K, num_queries)")
                               + "; pass --ranks-layout queries-first|revisitop")
        layout = fits[0]
    if layout == "revisitop":
        ranks = ranks.T
    elif layout != "queries-first":
        raise ResultsError(f"unknown ranks layout {layout!r}; expected queries-first or revisitop")
    if ranks.shape[0] != num_queries:
        raise ResultsError(f"{path}: {ranks.shape[0]} ranking rows for {num_queries} queries ({layout} layout)")
    return ranks


# ---------------------------------------------------------------- scoring files
def score_protocols(splits: dict, by_pair: dict, ranks=None, **options) -> dict:
    """{protocol: results of evaluate_pixel_retrieval} for splits {protocol: pairs split}.

    ``options``: benchmark, distractors, queries, official, index_size, num_queries.
    Warnings are raised again with the protocol they are about.
    """
    out = {}
    for protocol, split in splits.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out[protocol] = evaluate_pixel_retrieval(align(by_pair, split), split, ranks=ranks, **options)
        for warning in caught:
            warnings.warn(f"{protocol}: {warning.message}", warning.category, stacklevel=2)
    return out
