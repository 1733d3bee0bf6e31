"""Reading a method's results from files: predictions (JSON or Parquet) and rankings (.npy).

Predictions: a COCO-results-style JSON list, as detection toolkits write it, of
``{"query_id", "index_id", "segmentation": RLE and/or "bbox": [x, y, w, h]}``
(other keys such as ``score`` are ignored), or Parquet with the same columns.
Rankings: ``.npy`` of index ids, ours (num_queries, K) or revisitop's (K, num_queries).
Every problem is a ``ResultsError`` naming the file and the entry.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


class ResultsError(ValueError):
    """A results file is malformed or does not fit the dataset."""


def load_predictions(path, num_queries: int, index_sizes: list[tuple[int, int]]) -> dict:
    """{(query_id, index_id): {"mask": RLE or None, "bbox": list or None}} from a results file.

    ``index_sizes[i]`` = (height, width) of index image i: masks must have that size.
    """
    path = Path(path)
    entries = _read_entries(path)
    out = {}
    for n, entry in enumerate(entries):
        where = f"{path}: entry {n}"
        if not isinstance(entry, dict):
            raise ResultsError(f"{where}: expected an object with query_id, index_id, segmentation and/or bbox")
        try:
            q, i = _integer(entry["query_id"]), _integer(entry["index_id"])
        except (KeyError, TypeError, ValueError):
            raise ResultsError(f"{where}: needs integer query_id and index_id") from None
        if not 0 <= q < num_queries:
            raise ResultsError(f"{where}: unknown query_id {q} (the dataset has {num_queries} queries)")
        if not 0 <= i < len(index_sizes):
            raise ResultsError(f"{where}: unknown index_id {i} (the index has {len(index_sizes)} images)")
        if (q, i) in out:
            raise ResultsError(f"{where}: duplicate pair (query {q}, index {i}); entry {out[q, i]['entry']} has it too")
        mask, bbox = entry.get("segmentation"), entry.get("bbox")
        if mask is None and bbox is None:
            raise ResultsError(f"{where}: has neither segmentation nor bbox")
        if mask is not None:
            if not isinstance(mask, dict) or "size" not in mask or "counts" not in mask:
                raise ResultsError(f"{where}: segmentation must be a COCO RLE {{size, counts}} "
                                   "(polygons: convert with pycocotools.mask.frPyObjects)")
            size = [int(v) for v in mask["size"]]
            if tuple(size) != tuple(index_sizes[i]):
                raise ResultsError(f"{where}: mask size {size} but index image {i} is "
                                   f"{list(index_sizes[i])} (height, width)")
            mask = {"size": size, "counts": mask["counts"]}
        if bbox is not None:
            bbox = [float(v) for v in bbox]
            if len(bbox) != 4 or bbox[2] < 0 or bbox[3] < 0:
                raise ResultsError(f"{where}: bbox must be [x, y, w, h] with w, h >= 0, got {bbox}")
        out[q, i] = {"mask": mask, "bbox": bbox, "entry": n}
    return out


def _integer(value) -> int:
    if isinstance(value, bool) or float(value) != int(value):
        raise ValueError
    return int(value)


def _read_entries(path: Path) -> list:
    if not path.is_file():
        raise ResultsError(f"{path}: predictions file not found")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as err:  # noqa: BLE001 - any reader failure is a bad file
            raise ResultsError(f"{path}: not a readable Parquet file ({err})") from None
        missing = {"query_id", "index_id"} - set(table.column_names)
        if missing:
            raise ResultsError(f"{path}: Parquet lacks the columns {sorted(missing)}")
        rows = table.to_pylist()
        for row in rows:  # absent columns and nulls mean the same
            for key in ("segmentation", "bbox"):
                row.setdefault(key, None)
        return rows
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ResultsError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, list):
        raise ResultsError(f"{path}: expected a JSON list of predictions, got {type(data).__name__}")
    return data


def load_ranks(path, num_queries: int, layout: str | None = None) -> np.ndarray:
    """Rankings as (num_queries, K), memory-mapped: revisitop's (K, num_queries) is transposed (a view).

    ``layout`` "queries-first" (ours) or "revisitop"; required when both dimensions equal num_queries.
    """
    path = Path(path)
    try:
        ranks = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise ResultsError(f"{path}: ranks file not found") from None
    except (ValueError, OSError) as err:
        raise ResultsError(f"{path}: not a plain .npy array of index ids ({err})") from None
    if ranks.ndim != 2:
        raise ResultsError(f"{path}: ranks must be 2-D, got shape {ranks.shape}")
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
        raise ResultsError(f"unknown ranks layout {layout!r}")
    if ranks.shape[0] != num_queries:
        raise ResultsError(f"{path}: {ranks.shape[0]} ranking rows for {num_queries} queries ({layout} layout)")
    return ranks
