"""COCO compressed RLE: the one format of masks, and the one place its counts cross str <-> bytes.

A mask is ``{"size": [height, width], "counts": str}`` (what pycocotools writes,
with counts decoded). pycocotools itself wants ``counts`` as bytes. Compressed
counts are ASCII characters '0' .. 'o' (48 .. 111); anything else is malformed,
and nothing is ever replaced or re-encoded on the way: the bytes validated here
are exactly the bytes pycocotools receives (a lenient conversion once let a
non-Latin-1 character through validation and hang pycocotools).
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

MAX_SIDE = 2**31 - 1  # pycocotools stores height and width as 32-bit integers
MAX_RUN = 2**32 - 1  # and each run


class RLEError(InputError):
    """A mask is not a valid compressed COCO RLE."""


def rle_feature() -> dict:
    """The one ``datasets`` feature of a mask (the dataset's ``mask`` column, the metric's stored rows)."""
    import datasets  # only where a feature is declared: reading and checking masks does not need it

    return {"size": datasets.List(datasets.Value("int32")), "counts": datasets.Value("string")}


def counts_to_bytes(counts) -> bytes:
    """``counts`` as pycocotools wants them: str -> ASCII bytes; bytes unchanged."""
    if isinstance(counts, bytes):
        return bytes(counts)  # numpy.bytes_ is bytes to Python, not to pycocotools
    if isinstance(counts, str):
        try:
            return counts.encode("ascii")
        except UnicodeEncodeError as err:
            raise RLEError(f"RLE counts contain the non-ASCII character {counts[err.start]!r} at position "
                           f"{err.start}") from None
    raise RLEError(f"RLE counts must be a compressed string (str or bytes), got {type(counts).__name__}"
                   + (" (uncompressed RLE: convert with pycocotools.mask.frPyObjects)" if isinstance(counts, list)
                      else ""))


def counts_to_str(counts) -> str:
    """``counts`` as datasets and JSON store them: bytes -> ASCII str; str unchanged (if ASCII)."""
    if isinstance(counts, str):
        counts_to_bytes(counts)  # the same check
        return counts
    try:
        return counts_to_bytes(counts).decode("ascii")
    except UnicodeDecodeError as err:
        raise RLEError(f"RLE counts contain the non-ASCII byte {counts[err.start]:#04x} at position "
                       f"{err.start}") from None


def to_coco(rle) -> dict:
    """An RLE as pycocotools takes it (counts as bytes). Raises RLEError for a malformed one."""
    height, width = _size(rle)
    return {"size": [height, width], "counts": counts_to_bytes(rle["counts"])}


def from_coco(rle) -> dict:
    """An RLE pycocotools returned, as stored in datasets and JSON (counts as str)."""
    return {"size": [int(v) for v in rle["size"]], "counts": counts_to_str(rle["counts"])}


def _size(rle) -> tuple[int, int]:
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise RLEError("expected a COCO RLE dict with 'size' and 'counts'")
    size = rle["size"]
    try:
        height, width = size
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in size):
            raise TypeError
    except (TypeError, ValueError):
        raise RLEError(f"RLE size must be [height, width] integers, got {size!r}") from None
    if not (0 <= height <= MAX_SIDE and 0 <= width <= MAX_SIDE):
        raise RLEError(f"RLE size must be [height, width] between 0 and {MAX_SIDE}, got {list(size)!r}")
    return int(height), int(width)


def check(rles: list) -> tuple[list, list]:
    """Validate many RLEs at once: (pycocotools dicts, or None where malformed; problem per RLE, or None).

    pycocotools does not check (a corrupt string decodes out of bounds or loops),
    so every RLE from outside comes through here; the returned dicts are what
    pycocotools is then given. The counts are decoded in one numpy pass.
    """
    coco: list = [None] * len(rles)
    problems: list = [None] * len(rles)
    for k, rle in enumerate(rles):
        try:
            coco[k] = to_coco(rle)
        except RLEError as err:
            problems[k] = str(err)
    for k, c in enumerate(coco):  # each run takes at most 7 characters, and there are at most h * w + 1 runs
        if c is not None and len(c["counts"]) > 7 * (c["size"][0] * c["size"][1] + 1):
            problems[k] = (f"RLE counts are longer ({len(c['counts'])} characters) than any RLE of a "
                           f"{c['size'][0]}x{c['size'][1]} mask")
            coco[k] = None
    owners = [k for k, c in enumerate(coco) if c is not None]
    if owners:
        areas = np.asarray([coco[k]["size"][0] * coco[k]["size"][1] for k in owners], np.int64)
        bad, totals = _decode_check([coco[k]["counts"] for k in owners], areas)
        for j in np.flatnonzero(bad | (totals != areas)):
            k = owners[j]
            problems[k] = ("RLE counts are not a valid compressed string" if bad[j]
                           else "RLE runs do not cover height*width pixels")
            coco[k] = None
    return coco, problems


def problem(rle) -> str | None:
    """Why ``rle`` is not a valid compressed COCO RLE, or None."""
    return check([rle])[1][0]


def _decode_check(chunks: list[bytes], areas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decode many compressed counts strings at once (the scheme of pycocotools' rleFrString).

    Returns, per string, whether it is malformed (a byte outside '0'..'o', a value cut
    off or over 64 bits, a negative run or one longer than the string's ``areas``) and the
    sum of its runs, which must be height * width.
    """
    n = len(chunks)
    lengths = np.fromiter((len(c) for c in chunks), np.int64, n)
    raw = np.frombuffer(b"".join(chunks), np.uint8)
    ends = np.cumsum(lengths) - 1  # last byte of each string
    nonempty = lengths > 0
    bad = np.zeros(n, bool)
    bad[np.searchsorted(ends, np.flatnonzero((raw < 48) | (raw > 111)))] = True
    c = raw - np.uint8(48)  # wraps for bad bytes, which are flagged already
    terminal = (c & 0x20) == 0  # a value ends at a byte without the continuation bit
    bad[nonempty] |= ~terminal[ends[nonempty]]
    terminal[ends[nonempty]] = True  # a cut-off value must not spill into the next string
    last = np.flatnonzero(terminal)
    first = np.empty_like(last)
    first[:1] = 0
    first[1:] = last[:-1] + 1
    values = (c[first] & 0x1F).astype(np.int64)
    multi = np.flatnonzero(last > first)  # the few values longer than one byte
    nbytes = last[multi] - first[multi] + 1
    if (nbytes > 12).any():  # over 64 bits: no counts pycocotools wrote
        bad[np.searchsorted(ends, last[multi[nbytes > 12]])] = True
    for k in range(1, min(int(nbytes.max(initial=1)), 12)):
        sel = multi[nbytes > k]
        values[sel] |= (c[first[sel] + k] & 0x1F).astype(np.int64) << (5 * k)
    negative = np.flatnonzero(c[last] & 0x10)
    values[negative] -= np.left_shift(np.int64(1), 5 * np.minimum(last[negative] - first[negative] + 1, 12))
    # pycocotools keeps runs as 32-bit counts: larger values are no RLE it wrote (and would wrap)
    huge = np.flatnonzero(np.abs(values) > MAX_RUN)
    if huge.size:
        bad[np.searchsorted(ends, last[huge])] = True
        values[huge] = 0
    # values per string, and the index of each string's first value
    value_count = np.diff(np.searchsorted(last, ends, side="right"), prepend=0)
    value_start = np.cumsum(value_count) - value_count
    # runs[m] = values[m] + runs[m - 2] for m > 2 within a string: a cumulative sum over
    # every other value that restarts at each string's first three values
    restart = np.zeros(values.size, bool)
    for d in range(3):
        restart[value_start[value_count > d] + d] = True
    runs = np.empty_like(values)
    for parity in (0, 1):
        x = values[parity::2]
        cs = np.cumsum(x)
        index = np.arange(x.size, dtype=np.int32 if x.size < 2**31 else np.int64)
        start = np.maximum.accumulate(np.where(restart[parity::2], index, 0))
        runs[parity::2] = cs - cs[start] + x[start]
    out_of_range = np.flatnonzero((runs < 0) | (runs > np.repeat(np.minimum(areas, MAX_RUN), value_count)))
    if out_of_range.size:
        bad[np.searchsorted(value_start + value_count - 1, out_of_range)] = True
    totals = np.zeros(n, np.int64)
    has_values = value_count > 0
    if has_values.any():
        totals[has_values] = np.add.reduceat(runs, value_start[has_values])
    return bad, totals
