"""A method's result files, read strictly: predictions (pixret's JSON / Parquet) and rankings (.npy).

Inside pixret a method's predictions have one shape, keyed by pair::

    {(query_id, index_id): {"mask": RLE or None, "bbox": [x, y, w, h] or None, "polygon": N x 2 points or None}}

``read_predictions`` makes it from a file, ``align`` lines it up with the rows of a
pairs split (the list the metric takes); ``pixret.metric.evaluation`` scores them.

Files:
- predictions: a COCO-results-style JSON list, as detection toolkits write it, of
  ``{"query_id", "index_id", "segmentation": RLE and/or "bbox": [x, y, w, h]}`` or
  ``{"query_id", "index_id", "polygon": [[x, y], ...]}`` read by
  ``predictions.parse_prediction`` (``mask`` is accepted for ``segmentation``; ``score`` and
  ``category_id`` are ignored), or Parquet with those columns; a pipe (``/dev/stdin``) works;
- rankings: ``.npy`` of index ids, ours (num_queries, K) or revisitop's (K, num_queries).
Every problem is a ``ResultsError`` naming the file (as the caller names it), the entry and its pair.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import numpy as np

from . import strictjson
from ..core import rle
from ..core.errors import InputError
from ..core.predictions import Where, as_id, parse_prediction


class ResultsError(InputError):
    """A results file is malformed or does not fit the dataset."""


ONE_BASED = ": the id equals the count, as 1-based ids end; ids are 0-based (revisitop's positions)"


# ---------------------------------------------------------------- predictions
MAX_EXPANSION = 64  # a Parquet file's predictions may decode to this many times its size ...
MIN_DECODED = 64_000_000  # ... or to this many bytes, whichever is more (11 values of each of 70 x 6,322 pairs: 39 MB)
VALUE_BYTES = 8  # a decoded value is counted at what a reference to it takes in a Python list, plus a string's bytes
BATCH = 4096  # entries checked at a time: what a read holds beyond the result is one batch of entries


def read_predictions(path, num_queries: int, index_sizes, source: str | None = None) -> dict:
    """{(query_id, index_id): {"mask", "bbox"}} from a predictions file, every entry checked.

    ``index_sizes[i]`` = (height, width) of index image i: masks must have that size.
    ``source``: how messages name the file (default: its path).

    Entries are checked BATCH at a time, in order: a problem is reported at the first batch holding one. Memory:
    a JSON file is parsed whole (its objects are about 25x its bytes at most: JSON shares nothing); a Parquet file
    is read by row group, each refused before it is decoded when its predictions would decode to more than
    MAX_EXPANSION times the file's size (or MIN_DECODED), and never more entries than the dataset has pairs.
    """
    path = Path(path)
    source = source or str(path)
    out, entry_of = {}, {}  # {pair: prediction}, {pair: its entry number}
    pairs = num_queries * len(index_sizes)
    for first, entries in _entry_batches(path, source, pairs):
        _add_entries(out, entry_of, entries, first, source, num_queries, index_sizes)
    if not out:
        raise ResultsError(f"{source}: holds no predictions (an empty file would score 0 everywhere)")
    return out


def _add_entries(out: dict, entry_of: dict, entries: list, first: int, source: str, num_queries: int,
                 index_sizes) -> None:
    """Check entries ``first``, ``first + 1``, ... and add them to ``out``: their ids and keys, then their masks."""
    masks, mask_pairs = [], []
    for n, entry in enumerate(entries, first):
        where = Where(f"{source}: entry {n}")
        if not isinstance(entry, dict):
            raise ResultsError(f"{where}: expected an object with query_id, index_id, and a segmentation, bbox or polygon")
        try:
            if any(entry.get(k) is None for k in ("query_id", "index_id")):
                hint = (" (COCO's image_id: a pixret result names its pair with query_id and index_id)"
                        if "image_id" in entry else "")
                raise InputError(f"{where}: needs integer query_id and index_id{hint}")
            pair = as_id(entry["query_id"], where, "query_id"), as_id(entry["index_id"], where, "index_id")
            where = where.at(pair)
            prediction = parse_prediction(entry, where)
        except InputError as err:
            raise ResultsError(str(err)) from None
        q, i = pair
        if not q < num_queries:
            raise ResultsError(f"{where}: unknown query_id {q} (the dataset has {num_queries} queries, ids 0.."
                               f"{num_queries - 1})" + (ONE_BASED if q == num_queries else ""))
        if not i < len(index_sizes):
            raise ResultsError(f"{where}: unknown index_id {i} (the index has {len(index_sizes)} images, ids 0.."
                               f"{len(index_sizes) - 1})" + (ONE_BASED if i == len(index_sizes) else ""))
        if pair in out:
            raise ResultsError(f"{where}: duplicate pair; entry {entry_of[pair]} has it too")
        if prediction.empty:
            raise ResultsError(f"{where}: has neither segmentation, bbox nor polygon")
        if prediction.mask is not None:
            masks.append(prediction.mask)
            mask_pairs.append(pair)
        out[pair] = {"mask": None, "bbox": prediction.bbox, "polygon": prediction.polygon}
        entry_of[pair] = n
    try:
        coco = rle.validate(masks)
    except rle.RLEProblem as err:
        raise ResultsError(f"{_where(source, entry_of, mask_pairs[err.index])}: segmentation: {err.problem}") from None
    for pair, mask, checked in zip(mask_pairs, masks, coco):
        expected = [int(v) for v in index_sizes[pair[1]]]
        if checked["size"] != expected:
            raise ResultsError(f"{_where(source, entry_of, pair)}: mask size {checked['size']} but index image "
                               f"{pair[1]} is {expected} (height, width)")
        # the counts as given when a str (the same characters pycocotools checked): no second copy is kept
        out[pair]["mask"] = rle.from_coco({"size": checked["size"], "counts": mask["counts"]})


def _where(source: str, entry_of: dict, pair) -> Where:
    return Where(f"{source}: entry {entry_of[pair]}").at(pair)


def _raw(path: Path, source: str, what: str) -> bytes | None:
    """The bytes of a file that is not a regular file (a pipe, /dev/stdin), None for a regular file."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ResultsError(f"{source}: {what} file not found") from None
    except OSError as err:
        raise ResultsError(f"{source}: cannot read ({err.strerror or err})") from None
    if stat.S_ISDIR(mode):
        raise ResultsError(f"{source}: a folder, not a {what} file")
    if stat.S_ISREG(mode):
        return None
    try:
        return path.read_bytes()
    except OSError as err:
        raise ResultsError(f"{source}: cannot read ({err.strerror or err})") from None


def _entry_batches(path: Path, source: str, pairs: int):
    """(number of the first entry, entries) of the file, BATCH entries at a time; ``pairs``: how many pairs the
    dataset has (more entries than that cannot all be new, known pairs)."""
    raw = _raw(path, source, "predictions")
    if path.suffix.lower() == ".parquet":
        yield from _parquet_batches(raw, path, source, pairs)
        return
    entries = _json_entries(raw, path, source)
    _check_count(len(entries), pairs, source)
    for first in range(0, len(entries), BATCH):
        yield first, entries[first:first + BATCH]


def _check_count(count: int, pairs: int, source: str) -> None:
    if count > pairs:
        raise ResultsError(f"{source}: {count:,} predictions, more than the {pairs:,} pairs of the dataset's queries "
                           "and index images (a pair has one prediction at most)")


def _json_entries(raw: bytes | None, path: Path, source: str) -> list:
    try:
        data = raw if raw is not None else path.read_bytes()
    except OSError as err:
        raise ResultsError(f"{source}: cannot read ({err.strerror or err})") from None
    try:
        entries = strictjson.loads(data)
    except RecursionError:
        raise ResultsError(f"{source}: not valid JSON for predictions (nested too deeply)") from None
    except (UnicodeDecodeError, ValueError) as err:  # JSONDecodeError, and numbers Python refuses to parse
        if data[:6] == b"\x93NUMPY":
            raise ResultsError(f"{source}: a NumPy .npy file, not JSON (the authors' matching result? name it .npy, or "
                               "score it with predictions_format='authors')") from None
        raise ResultsError(f"{source}: not valid JSON ({str(err).splitlines()[0]})") from None
    if not isinstance(entries, list):
        raise ResultsError(f"{source}: expected a JSON list of predictions, got {type(entries).__name__}")
    return entries


def _parquet_batches(raw: bytes | None, path: Path, source: str, pairs: int):
    """Parquet predictions by row group: each is checked against the expansion limit on its metadata, read with
    its strings as dictionaries (as stored: a string used by many rows is there once), checked on what its strings
    expand to, and only then turned into entries, BATCH rows at a time."""
    import pyarrow.parquet as pq

    size = len(raw) if raw is not None else path.stat().st_size
    limit = max(MIN_DECODED, MAX_EXPANSION * size)
    try:
        with pq.ParquetFile(io.BytesIO(raw) if raw is not None else path) as probe:
            strings = [k for k in range(len(probe.schema)) if _dictionary_readable(probe.schema.column(k))]
        reader = pq.ParquetFile(io.BytesIO(raw) if raw is not None else path, read_dictionary=strings)
    except Exception as err:  # noqa: BLE001 - any reader failure is a bad file
        raise ResultsError(f"{source}: not a readable Parquet file ({_first_line(err)})") from None
    with reader:
        names = reader.schema_arrow.names
        if len(set(names)) != len(names):
            raise ResultsError(f"{source}: Parquet with a column name twice ({names})")
        missing = {"query_id", "index_id"} - set(names)
        if missing:
            raise ResultsError(f"{source}: Parquet lacks the columns {sorted(missing)}")
        metadata = reader.metadata
        _check_count(metadata.num_rows, pairs, source)
        first = decoded = 0
        for group in range(metadata.num_row_groups):
            reading = _reading_bytes(metadata.row_group(group), reader.schema)
            _check_expansion(decoded + reading, limit, size, source, first, metadata.row_group(group).num_rows)
            try:
                table = reader.read_row_group(group)
            except Exception as err:  # noqa: BLE001 - a damaged page fails in many ways
                raise ResultsError(f"{source}: not a readable Parquet file ({_first_line(err)})") from None
            decoded += sum(_decoded_bytes(column) for column in table.columns)
            _check_expansion(decoded, limit, size, source, first, table.num_rows)
            for start in range(0, table.num_rows, BATCH):
                yield first + start, _entries(table.slice(start, BATCH))
            first += table.num_rows


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _entries(table) -> list:
    rows = table.to_pylist()
    for row in rows:  # a column that is null in one row is absent there
        for key in [k for k, v in row.items() if v is None and k in ("segmentation", "mask", "bbox", "polygon")]:
            del row[key]
    return rows


def _dictionary_readable(column) -> bool:
    """A column of strings or bytes: read as a dictionary, it takes no more than its stored values."""
    return column.physical_type == "BYTE_ARRAY" and column.logical_type.type in ("STRING", "NONE", "JSON", "BSON",
                                                                                   "ENUM")


def _reading_bytes(group, schema) -> int:
    """What a row group decodes to at least, from its metadata (before reading it): VALUE_BYTES a value, the width
    of a fixed-size one, and its strings as stored (a dictionary's strings once). What reading it takes is a few
    times that at most: a value, an index into a dictionary, definition and repetition levels."""
    total = 0
    for k in range(group.num_columns):
        chunk, column = group.column(k), schema.column(k)
        width = column.length if column.physical_type == "FIXED_LEN_BYTE_ARRAY" else 0
        total += chunk.num_values * (VALUE_BYTES + width)
        if column.physical_type == "BYTE_ARRAY":
            total += chunk.total_uncompressed_size
    return total


def _decoded_bytes(array) -> int:
    """What an Arrow array's values take decoded: VALUE_BYTES a value plus the bytes of its strings, counted
    through dictionaries without expanding them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(array, pa.ChunkedArray):
        return sum(_decoded_bytes(chunk) for chunk in array.chunks)
    kind = array.type
    if pa.types.is_dictionary(kind):
        lengths = pc.binary_length(array.dictionary) if _is_bytes(kind.value_type) else None
        strings = 0 if lengths is None else pc.sum(pc.take(lengths, array.indices)).as_py() or 0
        return VALUE_BYTES * len(array) + strings
    if _is_bytes(kind):
        return VALUE_BYTES * len(array) + (pc.sum(pc.binary_length(array)).as_py() or 0)
    if pa.types.is_struct(kind):
        return sum(_decoded_bytes(array.field(k)) for k in range(kind.num_fields))
    if isinstance(array, (pa.ListArray, pa.LargeListArray, pa.FixedSizeListArray)):  # a map is a list of structs
        return VALUE_BYTES * len(array) + _decoded_bytes(array.flatten())
    if pa.types.is_fixed_size_binary(kind) or pa.types.is_decimal(kind):
        return VALUE_BYTES * len(array) + array.nbytes
    return VALUE_BYTES * len(array)


def _is_bytes(kind) -> bool:
    import pyarrow as pa

    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind) or \
        pa.types.is_large_binary(kind)


def _check_expansion(decoded: int, limit: int, size: int, source: str, first: int, rows: int) -> None:
    if decoded > limit:
        raise ResultsError(f"{source}: its predictions up to entry {first + rows - 1} decode to {_megabytes(decoded)}, "
                           f"over this file's limit of {_megabytes(limit)} ({MAX_EXPANSION}x its {_megabytes(size)}, at "
                           f"least {_megabytes(MIN_DECODED)}): refused before decoding (repeated or compressed data "
                           "that expands this far is no method's predictions)")


def _megabytes(count: int) -> str:
    return f"{count / 1e6:,.1f} MB" if count >= 1e5 else f"{count / 1e3:,.1f} kB"


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
                   {"mask": prediction.get("mask"), "bbox": prediction.get("bbox"), "polygon": prediction.get("polygon"),
                    "query_id": q, "index_id": i})
    return out


def check_result_files(**files) -> None:
    """Result files exist and are no folders (a pipe is fine): checked before anything is read, to fail fast.
    ``files``: {what they are ("predictions", "ranks"): a path, a list of paths, or None}."""
    for what, paths in files.items():
        for path in paths if isinstance(paths, (list, tuple)) else [paths]:
            if path is not None and not Path(path).exists():
                raise ResultsError(f"{path}: {what} file not found")
            if path is not None and Path(path).is_dir():
                raise ResultsError(f"{path}: a folder, not a {what} file")


# ---------------------------------------------------------------- rankings
def read_ranks(path, num_queries: int, ranks_layout: str | None = None, source: str | None = None) -> np.ndarray:
    """Rankings as (num_queries, K), memory-mapped: revisitop's (K, num_queries) is transposed (a view).

    ``ranks_layout`` "queries-first" (ours) or "revisitop"; required when both dimensions equal num_queries.
    """
    path = Path(path)
    source = source or str(path)
    raw = _raw(path, source, "ranks")
    if path.suffix.lower() == ".npz" or (raw or b"")[:2] == b"PK":
        raise ResultsError(f"{source}: an .npz archive; save the one ranks array with np.save(path.npy, ranks)")
    ranks = _npy_array(raw, path, source)
    if not isinstance(ranks, np.ndarray):
        raise ResultsError(f"{source}: not a .npy array")
    if ranks.ndim != 2:
        raise ResultsError(f"{source}: ranks must be 2-D, got shape {ranks.shape}")
    if ranks.dtype.kind not in "iu":
        raise ResultsError(f"{source}: ranks must be integer index ids, got dtype {ranks.dtype}")
    if ranks_layout is None:
        fits = [name for name, rows in (("queries-first", ranks.shape[0]), ("revisitop", ranks.shape[1]))
                if rows == num_queries]
        if len(fits) != 1:
            raise ResultsError(f"{source}: shape {ranks.shape} with {num_queries} queries is "
                               + ("ambiguous" if fits else "neither (num_queries, K) nor (K, num_queries)")
                               + "; pass ranks_layout='queries-first' (a row per query) or "
                               "ranks_layout='revisitop' (a column per query)")
        ranks_layout = fits[0]
    if ranks_layout == "revisitop":
        ranks = ranks.T
    elif ranks_layout != "queries-first":
        raise ResultsError(f"ranks_layout must be 'queries-first' or 'revisitop', got {ranks_layout!r}")
    if ranks.shape[0] != num_queries:
        raise ResultsError(f"{source}: {ranks.shape[0]} ranking rows for {num_queries} queries ({ranks_layout} layout)")
    return ranks


def _npy_array(raw: bytes | None, path: Path, source: str) -> np.ndarray:
    """The array of a .npy file whose header agrees with the bytes after it: a regular file memory-mapped, a pipe's
    bytes viewed where they are. Nothing is allocated for what a header claims (a 100-byte file claiming
    terabytes is refused by its size)."""
    from numpy.lib import format as npy

    try:
        with io.BytesIO(raw) if raw is not None else open(path, "rb") as stream:
            version = npy.read_magic(stream)
            read_header = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}.get(version)
            if read_header is None:
                raise ValueError(f"format version {version[0]}.{version[1]}, which np.save writes for no array of "
                                 "integers")
            shape, fortran, dtype = read_header(stream)
            offset = stream.tell()
            held = (len(raw) if raw is not None else os.fstat(stream.fileno()).st_size) - offset
    except Exception as err:  # noqa: BLE001 - a damaged header fails in many ways (ValueError, SyntaxError, ...)
        raise ResultsError(f"{source}: not a plain .npy array of index ids ({_first_line(err)})") from None
    if dtype.hasobject:
        raise ResultsError(f"{source}: not a plain .npy array of index ids (it holds pickled objects, not index ids)")
    if any(side < 0 for side in shape):
        raise ResultsError(f"{source}: not a plain .npy array of index ids (its header says shape {shape})")
    count = int(np.prod(shape, dtype=object))
    if count * dtype.itemsize != held:
        raise ResultsError(f"{source}: not a plain .npy array of index ids (its header says shape {shape} of "
                           f"{dtype}, {count * dtype.itemsize:,} bytes, and {held:,} bytes follow it"
                           + (": the file is cut short)" if held < count * dtype.itemsize else ")"))
    if raw is not None:
        return np.frombuffer(raw, dtype, count, offset).reshape(shape, order="F" if fortran else "C")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as err:  # noqa: BLE001 - whatever else numpy refuses in it
        raise ResultsError(f"{source}: not a plain .npy array of index ids ({_first_line(err)})") from None
