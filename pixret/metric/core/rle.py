"""COCO compressed RLE: the one format of masks, and the one place its counts cross str <-> bytes.

A mask is ``{"size": [height, width], "counts": str}`` (what pycocotools writes,
with counts decoded). pycocotools itself wants ``counts`` as bytes. Compressed
counts are ASCII characters '0' .. 'o' (48 .. 111); anything else is malformed,
and nothing is ever replaced or re-encoded on the way: the bytes validated here
are exactly the bytes pycocotools receives (a lenient conversion once let a
non-Latin-1 character through validation and hang pycocotools).
"""

from __future__ import annotations

from collections import deque
from itertools import islice

import numpy as np

from .errors import InputError

MAX_SIDE = 2**31 - 1  # pycocotools stores height and width as 32-bit integers
MAX_RUN = 2**32 - 1  # and each run
MAX_VALUE_CHARS = 12  # a value of more characters is over 64 bits: no counts pycocotools wrote
CHUNK_BYTES = 1 << 16  # counts bytes decoded per numpy pass: ~60 bytes of arrays a byte, 4 MB whatever the input


class RLEError(InputError):
    """A mask is not a valid compressed COCO RLE."""


class RLEProblem(RLEError):
    """The first malformed RLE of a list: ``index`` is its position in the list, ``problem`` what is wrong,
    ``position`` the character of its counts where that shows (None for its type, size, length or sum)."""

    def __init__(self, index: int, problem: str, position: int | None = None):
        super().__init__(f"rles[{index}]: {problem}")
        self.index, self.problem, self.position = index, problem, position

    def __reduce__(self):  # picklable (worker processes) despite the extra arguments
        return type(self), (self.index, self.problem, self.position)


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
        if not (type(height) is int and type(width) is int) and not all(  # (plain ints: most sizes, at once)
                isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in size):
            raise TypeError
    except (TypeError, ValueError):
        raise RLEError(f"RLE size must be [height, width] integers, got {size!r}") from None
    if not (0 <= height <= MAX_SIDE and 0 <= width <= MAX_SIDE):
        raise RLEError(f"RLE size must be [height, width] between 0 and {MAX_SIDE}, got {list(size)!r}")
    return int(height), int(width)


def validate(rles) -> list[dict]:
    """Every RLE of ``rles`` checked in full, in order: their dicts as pycocotools takes them (counts as bytes).

    Raises RLEProblem at the first malformed one. pycocotools does not check (a corrupt string decodes out
    of bounds or loops), so every RLE from outside comes through here; the returned dicts are what pycocotools
    is then given. Counts are decoded CHUNK_BYTES at a time: beyond the bytes returned (the counts themselves
    when given as bytes, an ASCII copy when given as str), the memory it takes is bounded.
    """
    out: list = []
    _validate_into(rles, out)
    return out


def check(rles: list) -> tuple[list, list]:
    """``validate`` for callers that name each RLE their own way: (pycocotools dicts, problem per RLE).

    Stops at the first malformed RLE (every caller reports the first): the RLEs before it are checked (dict,
    problem None), its problem is given (dict None), the RLEs after it are not checked (dict None, problem
    "not checked: ...").
    """
    coco: list = []
    problems: list = [None] * len(rles)
    try:
        _validate_into(rles, coco)
    except RLEProblem as err:
        k = err.index
        coco[k:] = [None] * (len(rles) - k)
        problems[k] = err.problem
        problems[k + 1:] = [f"not checked: RLE {k} before it is malformed"] * (len(rles) - k - 1)
    return coco, problems


def problem(rle) -> str | None:
    """Why ``rle`` is not a valid compressed COCO RLE, or None."""
    return check([rle])[1][0]


def _validate_into(rles, out: list) -> None:
    """Append each RLE's pycocotools dict to ``out`` as it is read; raise RLEProblem at the first bad one."""
    counts = _Counts()
    for k, rle in enumerate(rles):
        try:
            coco = to_coco(rle)
            height, width = coco["size"]
            if len(coco["counts"]) > 7 * (height * width + 1):  # a run takes at most 7 characters; h*w+1 runs
                raise RLEError(f"RLE counts are longer ({len(coco['counts'])} characters) than any RLE of a "
                               f"{height}x{width} mask")
        except RLEError as err:
            counts.finish()  # a problem of an earlier RLE comes first
            raise RLEProblem(k, str(err)) from None
        out.append(coco)
        counts.add(k, coco)
    counts.finish()


class _Counts:
    """Counts strings checked in order, CHUNK_BYTES per numpy pass (``_decode``): many short strings in one
    pass, a long one over several, cut after a value's last character with the decoder's state carried over
    the cut. Raises RLEProblem at the first malformed string, reading nothing after it."""

    def __init__(self):
        self.queue: deque = deque()  # (index, counts, height, width) not yet checked in full
        self.queued = 0  # their bytes not yet checked
        self.done = 0  # bytes of queue[0] checked
        self.state = (0, 0, 0, 0)  # the decoder's state there: values read, the last two runs, their sum

    def add(self, index: int, coco: dict) -> None:
        self.queue.append((index, coco["counts"], *coco["size"]))
        self.queued += len(coco["counts"])
        while self.queue and (self.queued >= CHUNK_BYTES or self.done):  # a string begun is ended before the next
            self._pass()

    def finish(self) -> None:
        while self.queue:
            self._pass()

    def _pass(self) -> None:
        budget = max(CHUNK_BYTES, MAX_VALUE_CHARS + 1)  # room for a cut at a value boundary
        spans = []
        for j, (_, counts, _, _) in enumerate(self.queue):
            start = self.done if j == 0 else 0
            if len(counts) - start <= budget:
                spans.append((start, len(counts)))
                budget -= len(counts) - start
            else:
                if not spans or budget > MAX_VALUE_CHARS:
                    spans.append((start, _cut(counts, start + budget)))
                break
        strings = list(islice(self.queue, len(spans)))
        if len(spans) == 1:
            raw = np.frombuffer(strings[0][1], np.uint8, spans[0][1] - spans[0][0], spans[0][0])
        else:
            raw = np.frombuffer(b"".join([s[1] if a == 0 and b == len(s[1]) else memoryview(s[1])[a:b]  # whole: as is
                                          for s, (a, b) in zip(strings, spans)]), np.uint8)
        final = [b == len(s[1]) for s, (a, b) in zip(strings, spans)]
        found, state = _decode(raw, [b - a for a, b in spans], final, [s[2:] for s in strings], self.done, self.state)
        if found is not None:
            piece, problem, position = found
            raise RLEProblem(strings[piece][0], problem, position)
        self.queued -= raw.size
        for _ in range(sum(final)):
            self.queue.popleft()
        self.done, self.state = (0, (0, 0, 0, 0)) if final[-1] else (spans[-1][1], state)


def _cut(counts: bytes, end: int) -> int:
    """Where to end a pass in ``counts`` at ``end`` at the latest: after the last character that ends a value
    (or is no counts character at all: reported in that pass); else at ``end``, within a value over 64 bits
    (reported in that pass too)."""
    tail = np.frombuffer(counts, np.uint8, MAX_VALUE_CHARS + 1, end - MAX_VALUE_CHARS - 1)
    boundaries = np.flatnonzero((tail < 80) | (tail > 111))  # '0'..'O' end a value, 'P'..'o' continue it
    return end - tail.size + 1 + int(boundaries[-1]) if boundaries.size else end


def _show(byte: int) -> str:
    return repr(chr(byte)) if byte < 128 else f"{byte:#04x}"


# the checks of one pass, in the order a literal decoder meets them at one character
_OUTSIDE, _OVERLONG, _CUT_OFF, _HUGE, _RUN = range(5)


def _decode(raw: np.ndarray, lengths: list, final: list, sizes: list, offset: int, state: tuple):
    """Decode consecutive pieces of counts strings at once (the scheme of pycocotools' rleFrString) and check them.

    Piece 0 may continue, from character ``offset``, a string cut in an earlier pass (``state``: values read,
    the last two runs, their sum); only the last piece may be cut (not ``final``), after a value. The checks:
    a byte outside '0'..'o', a value over 12 characters (64 bits) or cut off at the end, a value over 32 bits,
    a run negative or longer than the mask, runs not summing to height * width. Returns the first problem, as
    (piece, message, position in its string or None), or None; and the state at the end of the last piece.
    """
    lengths = np.asarray(lengths, np.int64)
    ends = np.cumsum(lengths) - 1  # last byte of each piece
    nonempty = lengths > 0
    found = []  # (position in raw, check, detail) of the first failure of each check

    outside = (raw < 48) | (raw > 111)
    if outside.any():
        p = int(outside.argmax())
        found.append((p, _OUTSIDE, f"character {_show(int(raw[p]))} at position {{}} is not in '0'..'o'"))
    c = raw - np.uint8(48)  # wraps for bytes outside, which are reported already
    terminal = (c & 0x20) == 0  # a value ends at a byte without the continuation bit
    cut_off = ends[nonempty & np.asarray(final, bool)]
    cut_off = cut_off[~terminal[cut_off]]
    if cut_off.size:
        found.append((int(cut_off[0]), _CUT_OFF, "it ends within a value (position {} has the continuation bit)"))
    terminal[ends[nonempty]] = True  # a value never spills into the next piece
    last = np.flatnonzero(terminal)
    first = np.empty_like(last)
    first[:1] = 0
    first[1:] = last[:-1] + 1
    values = (c[first] & 0x1F).astype(np.int64)
    multi = np.flatnonzero(last > first)  # the few values longer than one byte
    nbytes = last[multi] - first[multi] + 1
    overlong = multi[nbytes > MAX_VALUE_CHARS]
    if overlong.size:
        found.append((int(first[overlong[0]]) + MAX_VALUE_CHARS, _OVERLONG,
                      f"a value is longer than {MAX_VALUE_CHARS} characters (over 64 bits) at position {{}}"))
    for k in range(1, min(int(nbytes.max(initial=1)), MAX_VALUE_CHARS)):
        sel = multi[nbytes > k]
        values[sel] |= (c[first[sel] + k] & 0x1F).astype(np.int64) << (5 * k)
    # the last character's 0x10 bit makes a value negative: two's complement over its 5 bits a character
    values -= np.where(c[last] & 0x10, np.left_shift(np.int64(1), 5 * np.minimum(last - first + 1, MAX_VALUE_CHARS)),
                       0)
    values[overlong] = 0
    # pycocotools keeps runs as 32-bit counts: larger values are no RLE it wrote (and would wrap)
    huge = np.flatnonzero(np.abs(values) > MAX_RUN)
    if huge.size:
        found.append((int(last[huge[0]]), _HUGE, f"the value ending at position {{}} is {int(values[huge[0]])}, "
                      "beyond pycocotools' 32-bit runs"))
        values[huge] = 0

    # runs[m] = values[m] + runs[m - 2] for m > 2 within a string: a cumulative sum over every other value
    # that restarts at each string's first three values; a continued string goes on from its last two runs
    value_count = np.diff(np.searchsorted(last, ends, side="right"), prepend=0)
    value_start = np.cumsum(value_count) - value_count
    read, before_last, last_run, total = state
    if read >= 3 and value_count[0] > 0:
        values[0] += before_last
    if read >= 2 and value_count[0] > 1:
        values[1] += last_run
    restarts = []
    for d in range(3):
        starts = value_count > d
        starts[0] &= d < 2 or read == 0
        restarts.append(value_start[starts] + d)
    restarts = np.sort(np.concatenate(restarts))  # values 0 and 1 of the pass among them: each sum starts anew
    runs = np.empty_like(values)
    for parity in (0, 1):
        x = values[parity::2]
        cs = np.cumsum(x)
        starts = restarts[restarts % 2 == parity] // 2
        runs[parity::2] = cs - np.repeat(cs[starts] - x[starts], np.diff(starts, append=x.size))
    areas = np.asarray([h * w for h, w in sizes], np.int64)
    out_of_range = (runs < 0) | (runs > np.repeat(np.minimum(areas, MAX_RUN), value_count))
    if out_of_range.any():
        v = int(out_of_range.argmax())
        piece = int(np.searchsorted(value_start + value_count, v, side="right"))
        m = v - int(value_start[piece]) + (read if piece == 0 else 0)
        run = int(runs[v])
        height, width = sizes[piece]
        found.append((int(last[v]), _RUN, f"run {m} (ending at position {{}}) is " + (
            f"negative ({run})" if run < 0 else f"{run} pixels, more than the {height}x{width} mask has"
            if run <= MAX_RUN else f"{run} pixels, beyond pycocotools' 32-bit runs")))

    totals = np.zeros(len(sizes), np.int64)
    has_values = value_count > 0
    if has_values.any():
        totals[has_values] = np.add.reduceat(runs, value_start[has_values])
    totals[0] += total
    uncovered = np.flatnonzero(np.asarray(final, bool) & (totals != areas))
    if found:
        position, _, detail = min(found, key=lambda f: f[:2])
        piece = int(np.searchsorted(ends, position))
        if not uncovered.size or uncovered[0] >= piece:
            start = int(ends[piece] - lengths[piece] + 1) - (offset if piece == 0 else 0)
            return (piece, f"RLE counts are not a valid compressed string: {detail.format(position - start)}",
                    position - start), None
    if uncovered.size:
        piece = int(uncovered[0])
        height, width = sizes[piece]
        return (piece, f"RLE runs do not cover height*width pixels: they sum to {int(totals[piece])}, a "
                       f"{height}x{width} mask has {height * width}", None), None
    count = int(value_count[-1])
    read = (read if len(sizes) == 1 else 0) + count
    previous = runs[-2] if count >= 2 else last_run if len(sizes) == 1 else 0
    return None, (read, int(previous), int(runs[-1]) if count else 0, int(totals[-1]))
