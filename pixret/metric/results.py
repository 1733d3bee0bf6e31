"""A method's results: prediction and ranking files read strictly, and ``evaluate_files``, the one way result files
are scored (by ``pixret evaluate``, ``pixret compare``, the Space and the demo).

Inside pixret a method's predictions have one shape, keyed by pair::

    {(query_id, index_id): {"mask": RLE or None, "bbox": [x, y, w, h] or None, "polygon": N x 2 points or None}}

``read_predictions`` makes it from a file, ``align`` lines it up with the rows of a
pairs split (the list the metric takes), ``evaluate_files`` / ``evaluate_method`` score
every protocol of a built dataset (a ``GroundTruth``) into an ``Evaluation``.

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
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import authors, rle, strictjson, uncertainty
from .benchmarks import CUSTOM, PROTOCOLS, metric_options
from .errors import InputError
from .figures import Result
from .predictions import Where, as_id, one_based, parse_prediction, shifted_ids
from .scoring import evaluate_pixel_retrieval


class ResultsError(InputError):
    """A results file is malformed or does not fit the dataset."""


class ShiftedIds(ResultsError):
    """Most predictions miss the evaluated splits and id - 1 would place them: the table would be nonsense.
    ``finding`` says what was found (the message adds the remedy, in the library's terms)."""

    def __init__(self, finding: str):
        super().__init__(f"{finding}: the ids look 1-based (they are 0-based: revisitop's positions), and figures of "
                         "them would be nonsense; subtract 1, or pass trust_ids=True if these ids are right")
        self.finding = finding

    def __reduce__(self):
        return type(self), (self.finding,)


UNIT = "fraction"  # figures in JSON and from compute are in [0, 1]; tables and leaderboard files print percent
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
                               "pass --predictions-format authors)") from None
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


# ---------------------------------------------------------------- rankings
def read_ranks(path, num_queries: int, layout: str | None = None, source: str | None = None) -> np.ndarray:
    """Rankings as (num_queries, K), memory-mapped: revisitop's (K, num_queries) is transposed (a view).

    ``layout`` "queries-first" (ours) or "revisitop"; required when both dimensions equal num_queries.
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
    if layout is None:
        fits = [name for name, rows in (("queries-first", ranks.shape[0]), ("revisitop", ranks.shape[1]))
                if rows == num_queries]
        if len(fits) != 1:
            raise ResultsError(f"{source}: shape {ranks.shape} with {num_queries} queries is "
                               + ("ambiguous" if fits else "neither (num_queries, K) nor (K, num_queries)")
                               + "; pass --ranks-layout queries-first|revisitop")
        layout = fits[0]
    if layout == "revisitop":
        ranks = ranks.T
    elif layout != "queries-first":
        raise ResultsError(f"unknown ranks layout {layout!r}; expected queries-first or revisitop")
    if ranks.shape[0] != num_queries:
        raise ResultsError(f"{source}: {ranks.shape[0]} ranking rows for {num_queries} queries ({layout} layout)")
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


# ---------------------------------------------------------------- scoring a method on a built dataset
@dataclass
class GroundTruth:
    """A built dataset as an evaluation needs it (``pixret.dataset`` and the Space make one)."""

    name: str  # how messages and tables name it: a folder or a Hub id
    query_names: list[str]
    index_sizes: list[tuple[int, int]]  # (height, width) by index id
    load_split: object  # protocol -> the pairs split (a datasets.Dataset), loaded on demand
    built_as: str | None = None  # the benchmark a custom build was made in the format of (its build report)

    @property
    def options(self) -> dict:
        """The metric's benchmark for these queries (identity by facts), with the sizes "custom" needs."""
        return metric_options(self.query_names, len(self.index_sizes))

    @property
    def benchmark(self) -> str:
        return self.options["benchmark"]


@dataclass
class Evaluation:
    """A method's figures on a built dataset, every protocol, and how they were obtained."""

    name: str
    truth: GroundTruth
    results: dict[str, Result]  # protocol -> figures
    official: bool = True
    distractors: int = 0
    queries: list[int] | None = None  # a subset, in the order asked
    notes: list[str] = field(default_factory=list)  # worth knowing, not a problem (predictions not scored, ...)

    @property
    def benchmark(self) -> str:
        return self.truth.benchmark

    @property
    def not_comparable(self) -> str | None:
        """Why these figures are not the paper's kind (None: they are)."""
        if self.benchmark == CUSTOM:
            return "on synthetic or custom data, not the benchmark"
        if self.queries is not None:
            return f"a subset of {len(self.queries)} of the {len(self.truth.query_names)} queries"
        if not self.official:
            return "the unofficial variant (official=False)"
        return None

    def intervals(self, seed: int = 0, resamples: int = uncertainty.RESAMPLES) -> dict:
        """{protocol: {figure: (low, high)}}: 95% bootstrap intervals over the queries (``uncertainty.intervals``)."""
        return {p: uncertainty.intervals(r, self.benchmark, self.official, seed, resamples)
                for p, r in self.results.items()}

    def figures(self, intervals: dict | None = None) -> dict:
        """{protocol: {figure: value}} (fractions in [0, 1]; + oracles, subset, skipped pairs, kinds, and ``intervals``
        when given: {figure: [low, high]}): the figures of ``document``."""
        return {p: {**r.figures(), **{k: r[k] for k in ("oracles", "subset", "skipped_pairs", "kinds") if k in r},
                    **({"intervals": {k: list(v) for k, v in intervals[p].items()}} if intervals else {})}
                for p, r in self.results.items()}

    def document(self, intervals: dict | None = None, warnings=()) -> dict:
        """The JSON ``pixret evaluate --format json`` prints and the Space's API returns: ``{"unit": "fraction",
        protocol: figures (``figures``), ..., "warnings": [...], "notes": [...]}``; ``warnings``: the messages of
        what the evaluation warned about (legal input that looks like a mistake), as the command printed them."""
        return {"unit": UNIT, **self.figures(intervals), "warnings": [str(w) for w in warnings],
                "notes": list(self.notes)}


def evaluate_files(truth: GroundTruth, predictions, ranks=None, *, protocols=("medium", "hard"), ranks_layout=None,
                   distractors: int = 0, queries=None, official: bool = True, name: str | None = None,
                   sources: dict | None = None, predictions_format: str | None = None,
                   points_order: str | None = None, progress=None, trust_ids: bool = False) -> Evaluation:
    """Score a method's result files (predictions, optional ranks) on every protocol of ``truth``.

    Predictions in pixret's format (JSON / Parquet) or the authors' matching result (``.npy``, see ``authors``;
    ``predictions_format`` says which when the suffix does not, ``points_order`` "xy" or "rowcol").
    ``sources``: how messages name the files ({"predictions": ..., "ranks": ...}; default their paths).
    ``trust_ids``: score predictions whose ids look 1-based (``evaluate_method``) rather than refuse them.
    """
    sources = sources or {}
    if authors.predictions_format(predictions, predictions_format) == "authors":
        scored = {(q, i) for split in _splits(truth, protocols, queries).values()
                  for q, i, positive in zip(split["query_id"], split["index_id"], split["positive"]) if positive}
        by_pair = authors.read_matching_result(predictions, len(truth.query_names), truth.index_sizes,
                                               points_order or "xy", scored, truth.benchmark, progress)
    elif points_order is not None:
        raise InputError("points_order describes the authors' matching result (.npy): pixret predictions have masks")
    else:
        by_pair = read_predictions(predictions, len(truth.query_names), truth.index_sizes, sources.get("predictions"))
    rank_array = None if ranks is None else read_ranks(ranks, len(truth.query_names), ranks_layout,
                                                       sources.get("ranks"))
    return evaluate_method(truth, by_pair, rank_array, protocols=protocols, distractors=distractors, queries=queries,
                           official=official, name=name or authors.method_name(predictions), trust_ids=trust_ids)


def _splits(truth: GroundTruth, protocols, queries=None) -> dict:
    """{protocol: pairs split}, only the rows of ``queries`` when given (the metric then averages over them)."""
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        raise InputError(f"unknown protocol {unknown[0]!r}; expected one of {PROTOCOLS}")
    splits = {protocol: truth.load_split(protocol) for protocol in protocols}
    if queries is None:
        return splits
    outside = [q for q in queries if not q < len(truth.query_names)]
    if outside:
        raise InputError(f"queries must be query ids 0..{len(truth.query_names) - 1}, got {outside}")
    return {p: split.select(np.flatnonzero(np.isin(split["query_id"], queries))) for p, split in splits.items()}


def evaluate_method(truth: GroundTruth, by_pair: dict, ranks=None, *, protocols=("medium", "hard"),
                    distractors: int = 0, queries=None, official: bool = True, name: str = "method",
                    trust_ids: bool = False) -> Evaluation:
    """Score a method given in memory ({pair: prediction}, ranks array) on every protocol of ``truth``.

    Warnings of the metric are raised again with the protocol they are about. Predictions most of which miss the
    evaluated splits while id - 1 would place them (``predictions.shifted_ids``) are refused (``ShiftedIds``):
    their figures would be a normal-looking table of nonsense; ``trust_ids=True`` scores them anyway, with a
    warning.
    """
    if distractors and ranks is None:
        raise InputError("distractors describe the ranks: pass ranks too (pixret evaluate: --ranks)")
    if queries is not None:
        queries = [as_id(q, Where("queries"), "a query id") for q in queries]
    splits = _splits(truth, protocols, queries)
    held = held_pairs(splits)
    _check_ids(by_pair, held, trust_ids)
    results = score_protocols(splits, by_pair, ranks, distractors=distractors, queries=queries, official=official,
                              **truth.options)
    subset = next(iter(results.values())).subset  # None when the list holds every query
    evaluation = Evaluation(name, truth, results, official, distractors, queries if subset is not None else None)
    _account_for(by_pair, held, evaluation)
    return evaluation


def held_pairs(splits: dict) -> set:
    """The (query_id, index_id) pairs the splits ({protocol: pairs split}) hold: their positive and junk rows."""
    held = set()
    for split in splits.values():
        held.update(zip(split["query_id"], split["index_id"]))
    return held


def _check_ids(by_pair, held: set, trust_ids: bool = False) -> None:
    """Refuse predictions most of which miss the splits while id - 1 would place them (``ShiftedIds``); with
    ``trust_ids`` (or when most are on the splits) say what they look like."""
    if not isinstance(trust_ids, (bool, np.bool_)):
        raise InputError(f"trust_ids must be True or False, got {trust_ids!r}")
    shifted = shifted_ids(by_pair, held)
    if shifted and not trust_ids and 2 * sum(pair not in held for pair in by_pair) > len(by_pair):
        raise ShiftedIds(shifted)
    shifted = shifted or one_based(by_pair, held)
    if shifted:
        warnings.warn(f"{shifted}: the ids look 1-based (they are 0-based: revisitop's positions)", UserWarning,
                      stacklevel=4)


def _account_for(by_pair: dict, held: set, evaluation: Evaluation) -> None:
    """Predictions for pairs no evaluated split holds are not scored: count them (``_check_ids`` said whether they
    look 1-based)."""
    if one_based(by_pair, held):
        return
    unused = [pair for pair in by_pair if pair not in held]
    if unused and len(unused) == len(by_pair):
        warnings.warn(f"none of the {len(by_pair)} predictions is for a pair the evaluated splits hold: nothing is "
                      "scored (are these results for this dataset?)", UserWarning, stacklevel=3)
    elif unused:
        evaluation.notes.append(f"{len(unused)} of {len(by_pair)} predictions are for pairs the evaluated splits do "
                                "not hold (negatives, or pairs of other protocols): not scored")


def score_protocols(splits: dict, by_pair: dict, ranks=None, **options) -> dict:
    """{protocol: Result} for splits {protocol: pairs split} (``options``: the metric's); warnings get the protocol."""
    out = {}
    for protocol, split in splits.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out[protocol] = evaluate_pixel_retrieval(align(by_pair, split), split, ranks=ranks, **options)
        for warning in caught:
            warnings.warn(f"{protocol}: {warning.message}", warning.category, stacklevel=2)
    return out
