"""RLE validation against a slow, literal decoder of pycocotools' rleFrString at any chunk size; the mask verbs."""

from __future__ import annotations

import json
import pickle
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from pycocotools import mask as cocomask

from pixret import masks
from pixret.metric.core import rle
from pixret.metric.core.rle import RLEError

MAX_RUN = 2**32 - 1
CHUNKS = st.one_of(st.integers(1, 80), st.sampled_from([257, 4096, rle.CHUNK_BYTES]))


# ---------------------------------------------------------------- a slow, literal reference
def literal_decode(counts: bytes, height: int, width: int):
    """rleFrString one character at a time, checking as it goes: (runs, None) or (None, (problem, position))."""
    area = height * width
    if len(counts) > 7 * (area + 1):
        return None, ("long", None)
    runs, p = [], 0
    while p < len(counts):
        x, k = 0, 0
        while True:
            if p == len(counts):
                return None, ("cut", p - 1)
            if not 48 <= counts[p] <= 111:
                return None, ("outside", p)
            if k == 12:
                return None, ("overlong", p)
            c = counts[p] - 48
            x |= (c & 0x1F) << (5 * k)
            p, k = p + 1, k + 1
            if not c & 0x20:
                if c & 0x10:
                    x |= -1 << (5 * k)
                break
        if abs(x) > MAX_RUN:
            return None, ("huge", p - 1)
        if len(runs) > 2:
            x += runs[-2]
        if not 0 <= x <= min(area, MAX_RUN):
            return None, ("run", p - 1)
        runs.append(x)
    if sum(runs) != area:
        return None, ("cover", None)
    return runs, None


def mask_of_runs(runs, height, width) -> np.ndarray:
    values = np.repeat(np.arange(len(runs)) % 2, runs).astype(np.uint8)
    return values.reshape(width, height).T  # column-major, as COCO


PHRASES = {"long": "are longer (", "outside": "is not in '0'..'o'", "overlong": "longer than 12 characters",
           "cut": "ends within a value", "huge": ": the value ending at", "run": ": run ", "cover": "do not cover"}


def kind_of(problem: str) -> str:
    kinds = [kind for kind, phrase in PHRASES.items() if phrase in problem]
    assert len(kinds) == 1, problem
    return kinds[0]


def random_mask(rng) -> np.ndarray:
    """Small masks of noise, blocks or stripes; now and then a large one, for values of 3 to 7 characters."""
    style = int(rng.integers(0, 4))
    shape = tuple(int(v) for v in rng.integers(1, 40, 2)) if style < 3 else tuple(int(v) for v in
                                                                                  rng.integers(100, 700, 2))
    if style == 0:
        return (rng.random(shape) < rng.random()).astype(np.uint8)
    mask = np.zeros(shape, np.uint8)
    for _ in range(int(rng.integers(0, 4))):
        y, x = (int(rng.integers(0, s)) for s in shape)
        mask[y: y + int(rng.integers(1, shape[0] + 1)), x: x + int(rng.integers(1, shape[1] + 1))] ^= 1
    if style == 2:
        mask[:, :: int(rng.integers(2, 6))] = 1
    return mask


def corrupt(counts: bytes, size: list, rng) -> tuple[bytes, list]:
    """One or two damages of the kinds a broken writer or a hand edit makes."""
    for _ in range(int(rng.integers(1, 3))):
        damage = int(rng.integers(0, 8))
        at = int(rng.integers(0, len(counts) + 1))
        byte = int(rng.choice([0, 32, 47, 79, 80, 111, 112, 126, 127, 128, 255])) if rng.random() < 0.5 \
            else int(rng.integers(48, 112))
        if damage == 0 and counts:
            at = min(at, len(counts) - 1)
            counts = counts[:at] + bytes([byte]) + counts[at + 1:]
        elif damage == 1:
            counts = counts[:at] + bytes([byte]) + counts[at:]
        elif damage == 2:
            counts = counts[:at] + counts[at + int(rng.integers(1, 4)):]
        elif damage == 3:
            counts = counts[:at]
        elif damage == 4:  # a value of many continuation characters
            counts = counts[:at] + b"o" * int(rng.integers(5, 30)) + (b"1" if rng.random() < 0.7 else b"") \
                + counts[at:]
        elif damage == 5:  # a value over 32 bits, positive or negative
            counts = counts[:at] + rng.choice([b"oooooooo1", b"ooooooo?", b"PPPPPPP?", b"0000000"]) + counts[at:]
        elif damage == 6:
            size = [size[0] + int(rng.integers(-1, 2)), size[1] + 1]
        else:
            counts = counts[:at] + counts[at: at + int(rng.integers(1, 20))] + counts[at:]
    return counts, [max(v, 0) for v in size]


def as_given(counts: bytes, rng):
    """Counts as JSON and datasets give them (str) when ASCII, else as bytes."""
    return counts.decode("ascii") if max(counts, default=0) < 128 and rng.random() < 0.5 else counts


# ---------------------------------------------------------------- validate == the literal decoder, at any chunk size
@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), chunk=CHUNKS)
def test_validate_takes_what_pycocotools_writes(seed, chunk):
    rng = np.random.default_rng(seed)
    arrays = [random_mask(rng) for _ in range(int(rng.integers(1, 6)))]
    written = [cocomask.encode(np.asfortranarray(a)) for a in arrays]
    given_ = [{"size": w["size"], "counts": as_given(w["counts"], rng)} for w in written]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rle, "CHUNK_BYTES", chunk)
        checked = rle.validate(given_)
    assert [c["size"] for c in checked] == [w["size"] for w in written]
    assert [c["counts"] for c in checked] == [w["counts"] for w in written]
    for array, w in zip(arrays, written):
        runs, problem = literal_decode(w["counts"], *w["size"])
        assert problem is None and np.array_equal(mask_of_runs(runs, *w["size"]), array)


@settings(max_examples=400, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), chunk=CHUNKS)
def test_validate_refuses_what_the_literal_decoder_refuses(seed, chunk):
    rng = np.random.default_rng(seed)
    rles, verdicts = [], []
    for _ in range(int(rng.integers(1, 6))):
        w = cocomask.encode(np.asfortranarray(random_mask(rng)))
        counts, size = (w["counts"], w["size"]) if rng.random() < 0.4 else corrupt(w["counts"], w["size"], rng)
        rles.append({"size": size, "counts": as_given(counts, rng)})
        verdicts.append(literal_decode(counts, *size))
    first = next((k for k, (_, problem) in enumerate(verdicts) if problem), None)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rle, "CHUNK_BYTES", chunk)
        if first is None:
            checked = rle.validate(rles)
            for c, (runs, _) in zip(checked, verdicts):  # what is accepted, pycocotools decodes as the reference
                assert np.array_equal(cocomask.decode(c), mask_of_runs(runs, *c["size"]))
            return
        with pytest.raises(rle.RLEProblem) as caught:
            rle.validate(rles)
        coco, problems = rle.check(rles)
    err = caught.value
    assert (err.index, kind_of(err.problem), err.position) == (first, *verdicts[first][1])
    assert str(err) == f"rles[{first}]: {err.problem}" and "\n" not in str(err)
    if err.position is not None:
        assert f"position {err.position}" in err.problem
    assert problems[first] == err.problem and problems[:first] == [None] * first
    assert all(p.startswith(f"not checked: RLE {first} ") for p in problems[first + 1:])
    assert coco[first:] == [None] * (len(rles) - first) and None not in coco[:first]


@pytest.mark.parametrize("chunk", [13, 14, 16, 20])
def test_state_carries_over_cuts(chunk, monkeypatch):
    """One string over many passes: values of 1 to 7 characters cut everywhere, runs relative to two before."""
    monkeypatch.setattr(rle, "CHUNK_BYTES", chunk)
    mask = np.zeros((300, 500), np.uint8)
    rng = np.random.default_rng(chunk)
    for _ in range(40):
        y, x = rng.integers(0, 300), rng.integers(0, 500)
        mask[y: y + rng.integers(1, 300), x: x + rng.integers(1, 50)] ^= 1
    mask[:, 400:] = 0  # a long run: a value of several characters
    written = cocomask.encode(np.asfortranarray(mask))
    assert len(written["counts"]) > 20 * chunk
    [checked] = rle.validate([{"size": written["size"], "counts": written["counts"].decode()}])
    assert np.array_equal(cocomask.decode(checked), mask)
    # the last run one pixel short: only the sum over every pass tells
    short = {"size": [300, 501], "counts": written["counts"]}
    with pytest.raises(rle.RLEProblem, match=r"sum to 150000, a 300x501 mask has 150300"):
        rle.validate([short])


@pytest.mark.parametrize("counts, kind, position", [
    (b"0" + b"o" * 40 + b"1", "overlong", 13),  # a value over 64 bits longer than a pass
    (b"0" * 10 + b"o" * 10, "cut", 19),  # the string ends within a value, after a cut
    (b"0" * 15 + b"~", "outside", 15),  # right after the first cut
    (b"0" * 12 + b"oooooooo1", "huge", 20),  # a value over 32 bits across a cut
    # two checks at one character: the one a literal decoder meets first
    (b"0" + b"o" * 13, "overlong", 13),  # the 13th character of a value, and the last one
    (b"o" * 12 + b"~", "outside", 12),
    (b"0" * 5 + b"o" * 12, "cut", 16),
])
def test_problems_across_a_cut(counts, kind, position, monkeypatch):
    monkeypatch.setattr(rle, "CHUNK_BYTES", 13)
    assert literal_decode(counts, 20, 20)[1] == (kind, position)
    with pytest.raises(rle.RLEProblem) as caught:
        rle.validate([{"size": [20, 20], "counts": counts}])
    assert (kind_of(caught.value.problem), caught.value.position) == (kind, position)


def test_first_problem_in_order_across_kinds(monkeypatch):
    """A malformed string still pending in a pass comes before a later RLE of the wrong type, and vice versa."""
    monkeypatch.setattr(rle, "CHUNK_BYTES", 1 << 20)
    good = masks.encode(np.eye(6, dtype=np.uint8))
    uncovered = {**good, "size": [6, 7]}
    for rles, index, phrase in (([good, uncovered, {"size": [5]}], 1, "do not cover"),
                                ([good, {"size": [5], "counts": "0"}, uncovered], 1, "size must be"),
                                ([good, good, {**good, "counts": good["counts"] + "\u0101"}], 2, "non-ASCII"),
                                ([good, {**good, "counts": "0" * 400}], 1, r"longer \(400 characters\)")):
        with pytest.raises(rle.RLEProblem, match=phrase) as caught:
            rle.validate(rles)
        assert caught.value.index == index
    assert rle.validate([]) == []


def test_rle_problem_pickles():
    err = rle.RLEProblem(3, "RLE runs do not cover height*width pixels", None)
    back = pickle.loads(pickle.dumps(err))
    assert (type(back), back.index, back.problem, back.position, str(back)) == \
        (rle.RLEProblem, 3, err.problem, None, str(err))


# ---------------------------------------------------------------- memory: bounded, and nothing read after the first bad
def noise_counts(rng, height=1500, width=2800) -> dict:
    return cocomask.encode(np.asfortranarray((rng.random((height, width)) < 0.5).astype(np.uint8)))


def traced_peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_is_bounded_by_the_counts():
    rng = np.random.default_rng(0)
    big = [noise_counts(rng) for _ in range(4)]
    total = sum(len(b["counts"]) for b in big)
    assert total > 7_000_000
    # counts as bytes: nothing is copied, a pass's arrays are all validation needs
    assert traced_peak(lambda: rle.validate(big)) < 0.5 * total
    # counts as str (JSON): the bytes pycocotools gets, once
    as_str = [{"size": b["size"], "counts": b["counts"].decode()} for b in big]
    assert traced_peak(lambda: rle.validate(as_str)) < 1.6 * total
    # malformed at their very end: the check stops at the first, reading no further (no more memory than for it)
    malformed = [{"size": [b["size"][0], b["size"][1] + 1], "counts": b["counts"].decode()} for b in big]
    result = {}
    peak = traced_peak(lambda: result.update(zip(("coco", "problems"), rle.check(malformed))))
    assert peak < 1.05 * traced_peak(lambda: rle.check(malformed[:1])) < 0.75 * total
    assert "do not cover" in result["problems"][0] and result["coco"] == [None] * 4
    assert all(p.startswith("not checked") for p in result["problems"][1:])


# ---------------------------------------------------------------- the mask verbs
def test_iou_of_masks_of_different_sizes_names_both():
    a, b = masks.encode(np.ones((4, 6), bool)), masks.encode(np.ones((5, 6), bool))
    assert cocomask.iou([rle.to_coco(a)], [rle.to_coco(b)], [0])[0, 0] == -1  # what pycocotools says
    with pytest.raises(masks.MaskError, match=r"different sizes: 4x6 and 5x6 \(height x width\)"):
        masks.iou(a, b)


def test_iou_is_the_pixel_iou():
    rng = np.random.default_rng(3)
    for _ in range(20):
        a, b = rng.random((2, 17, 23)) < rng.random()
        union = (a | b).sum()
        expected = (a & b).sum() / union if union else 0.0
        assert masks.iou(masks.encode(a), masks.encode(b)) == pytest.approx(expected)
    assert masks.iou(None, masks.encode(a)) == 0.0


def test_encode_takes_bool_01_0255_and_a_singleton_channel():
    rng = np.random.default_rng(1)
    mask = rng.random((9, 14)) < 0.4
    expected = masks.encode(mask)
    assert np.array_equal(masks.decode(expected), mask)
    for given_ in (mask.astype(np.uint8), mask.astype(np.int64), mask.astype(np.uint16) * 255,
                   (mask * 255).astype(np.uint8)[:, :, None], mask[:, :, None], np.asfortranarray(mask)):
        assert masks.encode(given_) == expected
    assert masks.encode(np.full((3, 4), 255, np.uint8)) == masks.encode(np.ones((3, 4), bool))
    assert masks.area(masks.encode(np.zeros((0, 4), bool))) == 0


@pytest.mark.parametrize("array, message", [
    (np.linspace(0.05, 0.95, 12).reshape(3, 4), r"a probability map: threshold it, e\.g\. mask > 0\.5"),
    (np.eye(4) * 1.0, r"float64 values 0\.0 and 1\.0: pass mask\.astype\(bool\)"),
    (np.eye(4) * 7 - 3, r"scores or logits: threshold them, e\.g\. mask > 0"),
    (np.full((2, 2), np.nan), "with NaN"),
    (np.eye(4, dtype=np.int32) * 256, r"values 0, 256, a label map"),  # cast to uint8, an empty mask
    (np.arange(12).reshape(3, 4) % 3, r"values 0, 1, 2, a label map: select one object, e\.g\. labels == k"),
    (np.array([[0, 1], [255, 1]], np.uint8), "all 0/1 or all 0/255, not both"),
    (np.arange(256, dtype=np.uint8).reshape(16, 16), r"a grayscale image: threshold it, e\.g\. image > 127"),
    (np.array([[-1, 0], [1, 0]]), "a label map"),
    (np.zeros((4, 4, 3), np.uint8), r"shape \(4, 4, 3\): an image with 3 channels, or a stack of masks"),
    (np.zeros(5, bool), r"2-D \(height, width\) array, got 1-D shape \(5,\)"),
    (np.zeros((1, 2, 3, 1), bool), "got 4-D"),
    (np.array([["a", "b"]]), "got dtype <U1"),
])
def test_encode_refuses_what_is_not_a_mask(array, message):
    with pytest.raises(masks.MaskError, match=message) as caught:
        masks.encode(array)
    assert "\n" not in str(caught.value)


def test_every_verb_checks_the_rle_in_full():
    good = masks.encode(np.eye(2, dtype=np.uint8))
    too_long = {"size": [2, 2], "counts": "0:"}  # runs 0, 10: pycocotools would take it
    assert literal_decode(b"0:", 2, 2)[1] == ("run", 1)
    for verb in (masks.decode, masks.area, masks.bbox, lambda r: masks.iou(r, good), lambda r: masks.iou(good, r)):
        with pytest.raises(masks.RLEError, match=r"^RLE counts are not a valid compressed string: run 1 \(ending at "
                                                 r"position 1\) is 10 pixels, more than the 2x2 mask has$"):
            verb(too_long)
    with pytest.raises(rle.RLEProblem, match=r"^rles\[1\]: .* more than the 2x2 mask") as caught:
        masks.boxes([good, too_long])
    assert caught.value.index == 1
    assert masks.boxes([good, good]).tolist() == [[0, 0, 2, 2]] * 2 and masks.bbox(good) == [0, 0, 2, 2]
    assert masks.area(good) == 2 and masks.decode(good).tolist() == [[1, 0], [0, 1]]


def test_from_polygons_refuses_what_pycocotools_misreads():
    triangle = np.array([[0, 0], [10, 0], [10, 10]])
    direct = cocomask.merge(cocomask.frPyObjects([triangle.reshape(-1).tolist()], 20, 20))
    assert masks.from_polygons([triangle], 20, 20) == rle.from_coco(direct)
    assert masks.from_polygons([], 20, 30) == masks.encode(np.zeros((20, 30), bool))
    for polygons, height, message in (
            ([np.array([[0, 0], [10, 10]])], 20, "polygon 0 has 2 points: a polygon has at least 3"),
            ([triangle, np.array([[0, 0], [np.nan, 5], [5, 5]])], 20, "polygon 1 has a point that is not finite"),
            ([np.zeros((3, 3))], 20, r"polygon 0: expected an Nx2 array of x, y numbers, got shape \(3, 3\)"),
            ([triangle], 20.5, "height must be an integer between 0 and"),
            ([triangle], -1, "height must be an integer")):
        with pytest.raises(masks.MaskError, match=message):
            masks.from_polygons(polygons, height, 20)


def test_only_what_pixret_wrote_for_its_size_skips_the_full_check():
    mask = np.random.default_rng(5).random((30, 40)) < 0.3
    written = masks.encode(mask)
    assert isinstance(written["counts"], str) and json.loads(json.dumps(written)) == written
    plain = json.loads(json.dumps(written))  # what a file or a dataset gives back: checked in full
    for verb in (masks.area, masks.bbox, lambda r: masks.decode(r).tolist(), lambda r: masks.iou(r, written)):
        assert verb(plain) == verb(written)
    assert masks.boxes([written, plain]).tolist() == masks.boxes([written]).tolist() * 2
    resized = masks.encode(mask)
    resized["size"] = [30, 41]  # the marked counts no longer fit: checked in full, refused
    edited = {**written, "counts": written["counts"][:-1]}  # any edit gives a plain str
    for rle_ in (resized, edited, {**written, "size": [30, "40"]}):
        with pytest.raises(masks.RLEError, match="do not cover|not a valid|size must be"):
            masks.area(rle_)
        with pytest.raises(rle.RLEProblem, match=r"rles\[1\]"):
            masks.boxes([written, rle_])
    polygon = masks.from_polygons([np.array([[1, 1], [20, 2], [12, 25]])], 30, 40)
    polygon["size"] = [31, 40]
    with pytest.raises(masks.RLEError, match="do not cover"):
        masks.bbox(polygon)


def test_areas_of_many_masks_in_one_check():
    rng = np.random.default_rng(8)
    arrays = [rng.random((int(rng.integers(1, 30)), 17)) < rng.random() for _ in range(300)]
    plain = json.loads(json.dumps([masks.encode(a) for a in arrays]))  # as read from a file: checked
    expected = [int(a.sum()) for a in arrays]
    assert masks.areas(plain).tolist() == expected == [masks.area(m) for m in plain]
    assert masks.areas([masks.encode(a) for a in arrays]).tolist() == expected
    assert masks.areas([]).tolist() == [] and masks.boxes(iter([])).shape == (0, 4)
    plain[250]["size"][0] += 1
    with pytest.raises(rle.RLEProblem, match=r"^rles\[250\]: RLE runs do not cover"):
        masks.areas(plain)


def test_an_encoded_masks_size_edited_in_place_is_checked_again():
    rle = masks.encode(np.ones((6, 6), bool))
    rle["size"][:] = [3, 3]  # the runs (36 pixels) are longer than the mask now says
    for verb in (masks.decode, masks.area, masks.bbox, lambda r: masks.iou(r, r)):
        with pytest.raises(RLEError, match="run 1 .* is 36 pixels, more than the 3x3 mask has"):
            verb(rle)
    with pytest.raises(RLEError, match="more than the 3x3 mask has"):
        masks.areas([masks.encode(np.ones((3, 3), bool)), rle])
    fresh = masks.encode(np.ones((6, 6), bool))
    assert masks.area(fresh) == 36 and masks.decode(fresh).sum() == 36
