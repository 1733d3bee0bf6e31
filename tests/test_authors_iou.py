"""The authors' IoU procedure, fast (pixret.metric.core.authors_iou), against their code done literally
(tests/literal_authors.py: S x S canvases, numpy slicing, cv2.fillPoly per shape), on polygons that exercise
every quirk: negative corners that wrap, points past the canvas, int truncation, 1- and 2-point regions,
slivers, self-intersections, multi-shape ground truth; and the whole metric against their mious.py and
compute_maps on random methods and rankings."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from pixret import geometry, masks
from pixret.metric.core import authors_iou
from pixret.metric.core.errors import InputError


def _region(rng, width: int, height: int, points: int | None = None) -> np.ndarray:
    """A random region near a width x height image: anywhere from well outside on every side to inside, any
    number of points (1, 2, slivers, self-intersecting stars), integer or fractional coordinates."""
    count = points or int(rng.choice([1, 2, 3, 4, 5, 7, 12, 30]))
    centre = rng.uniform([-0.5 * width, -0.5 * height], [1.5 * width, 1.5 * height])
    radius = rng.uniform(0.5, [width, height])
    region = centre + rng.uniform(-1, 1, (count, 2)) * radius
    kind = rng.integers(6)
    if kind == 0:
        region = np.round(region)
    elif kind == 1:
        region[:, int(rng.integers(2))] = region[0, int(rng.integers(2))]  # collinear: a sliver
    elif kind == 2:
        region = np.round(region * 4) / 4 - 0.5  # fractions either side of 0 truncate towards zero
    return region


def _agree(literal, pred, shapes):
    """pixret's (det, seg) equals the literal procedure's bit for bit, or both refuse."""
    try:
        expected = (literal.compute_iou(pred, shapes, "bbox"), literal.compute_iou(pred, shapes, "segmentation"))
    except literal.AuthorsFailure:
        with pytest.raises(InputError, match="authors"):
            authors_iou.pair_iou(pred, shapes)
        return False
    assert authors_iou.pair_iou(pred, shapes) == expected, (pred.tolist(), [s.tolist() for s in shapes])
    return True


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), width=st.integers(3, 90), height=st.integers(3, 90),
       shapes=st.integers(1, 4))
def test_pair_iou_equals_the_authors_procedure(literal_authors, seed, width, height, shapes):
    rng = np.random.default_rng(seed)
    truth = [_region(rng, width, height) for _ in range(shapes)]
    _agree(literal_authors, _region(rng, width, height), truth)


def test_pair_iou_on_many_quirky_pairs(literal_authors):
    """3,000 seeded pairs: most scored exactly as theirs, the rest refused where their code fails or divides 0 by 0."""
    rng = np.random.default_rng(7)
    scored = sum(_agree(literal_authors, _region(rng, 60, 40), [_region(rng, 60, 40) for _ in range(rng.integers(1, 4))])
                 for _ in range(3000))
    assert 2000 < scored < 3000


@pytest.mark.parametrize("pred, shapes, det, seg", [
    # a 2-point region is filled as a line, and so are a rectangle's two corners (their raw points); the canvas
    # ends at 10, the largest coordinate, so the ground truth's last row and column fall off (10 x 10, 10 px)
    ([[2, 2], [8, 8]], [[[0, 0], [10, 10]]], 49 / 100, 7 / 10),
    # points are truncated towards zero: -0.9 -> 0, 9.9 -> 9
    ([[-0.9, -0.9], [9.9, -0.9], [9.9, 9.9], [-0.9, 9.9]], [[[0, 0], [9, 0], [9, 9], [0, 9]]], 81 / 81, 81 / 81),
    # the canvas ends at the largest coordinate (9): the box's last row and column fall off
    ([[0, 0], [9, 0], [9, 9], [0, 9]], [[[0, 0], [4, 0], [4, 4], [0, 4]]], 25 / 81, 25 / 81),
    # a negative box corner wraps: x -3 starts at S - 3 = 7
    ([[-3, 0], [4, 0], [4, 4], [-3, 4]], [[[0, 0], [10, 0], [10, 10], [0, 10]]], 0 / 100, 25 / 100),
])
def test_the_quirks_by_hand(literal_authors, pred, shapes, det, seg):
    pred, shapes = np.array(pred, float), [np.array(s, float) for s in shapes]
    assert authors_iou.pair_iou(pred, shapes) == pytest.approx((det, seg))
    assert _agree(literal_authors, pred, shapes)


def test_broken_pairs_are_refused_with_the_pair_named():
    with pytest.raises(InputError, match="negative"):
        authors_iou.pair_iou(np.array([[-5.0, -5.0], [-2.0, -9.0]]), [np.array([[-1.0, -1.0], [-3.0, -4.0]])])
    # both boxes wrap to nothing (a corner at -5, a canvas of 3): their 0 / 0
    with pytest.raises(InputError, match="0 / 0") as caught:
        authors_iou.pair_ious([np.array([[3.0, -5.0], [3.0, 0.0]])], [[np.array([[3.0, -5.0], [3.0, 0.0]])]],
                              lambda k: f"predictions row {k} (pair (1, 2))")
    assert "pair (1, 2)" in str(caught.value)


def test_points_are_bounded_before_any_canvas():
    with pytest.raises(InputError, match="8192"):
        authors_iou.pair_iou(np.array([[0.0, 0.0], [1e9, 5.0], [3.0, 4.0]]), [np.array([[1.0, 1.0], [5.0, 5.0]])])


# ---------------------------------------------------------------- the whole metric against their scripts
NUM_QUERIES, NUM_INDEX, SIZE = 6, 40, (48, 64)  # (height, width)


def _world(seed: int):
    """A random custom benchmark: revisitop-style lists, ground-truth shapes per (query group, positive), a
    quirky method's regions, and a ranking with distractors."""
    rng = np.random.default_rng(seed)
    gnd = []
    for q in range(NUM_QUERIES):
        ids = rng.permutation(NUM_INDEX)
        easy, hard, junk = np.split(ids[:int(rng.integers(4, 20))], [int(rng.integers(0, 4)), int(rng.integers(5, 10))])
        gnd.append({"easy": sorted(easy.tolist()), "hard": sorted(hard.tolist()), "junk": sorted(junk.tolist())})
    height, width = SIZE
    shapes, regions = {}, {}
    for q, g in enumerate(gnd):
        for i in g["easy"] + g["hard"]:
            box = rng.uniform([0, 0], [width * 0.6, height * 0.6])
            truth = [box + rng.uniform(0, [width * 0.4, height * 0.4], (int(rng.integers(3, 7)), 2))
                     for _ in range(int(rng.integers(1, 3)))]
            if rng.random() < 0.2:
                truth.append(box + rng.uniform(0, 10, (2, 2)))  # a rectangle's two corners
            shapes[q, i] = truth
            kind = rng.random()
            if kind < 0.15:
                regions[q, i] = np.zeros((0, 2))  # nothing found
            elif kind < 0.3:
                regions[q, i] = _region(rng, width, height)  # anywhere, any number of points
            else:
                regions[q, i] = truth[0] + rng.normal(0, 3, truth[0].shape)
    ranks = np.stack([rng.permutation(NUM_INDEX + 25) for _ in range(NUM_QUERIES)])  # ids >= 40: distractors
    return gnd, shapes, regions, ranks


def _references(gnd, shapes, protocol):
    kinds = {"medium": ("easy", "hard"), "hard": ("hard",)}[protocol]
    rows = []
    for q, g in enumerate(gnd):
        for kind in ("easy", "hard", "junk"):
            for i in g[kind]:
                positive = kind in kinds
                truth = shapes.get((q, i)) if positive else None
                rows.append({"query_id": q, "index_id": i, "difficulty": kind, "positive": positive,
                             "mask": None if truth is None else masks.from_polygons(
                                 [s if len(s) > 2 else geometry.rectangle(*s) for s in truth], *SIZE),
                             "shapes": None if truth is None else
                             [{"shape_type": "polygon" if len(s) > 2 else "rectangle", "points": s.tolist()}
                              for s in truth]})
    return rows


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_metric_equals_the_authors_scripts(literal_authors, custom_metric, seed):
    gnd, shapes, regions, ranks = _world(seed)
    match_set = {f"qimlist_{q}_imlist_{i}": r for (q, i), r in regions.items()}
    shapes_of = {f"{q}_{i}": [s.tolist() for s in truth] for (q, i), truth in shapes.items()}
    try:
        expected_miou, ious = literal_authors.mious(match_set, shapes_of, gnd)
    except literal_authors.AuthorsFailure:
        return  # refused by pixret: checked by the pair tests
    for protocol, (det, seg) in (("medium", (0, 1)), ("hard", (2, 3))):
        references = _references(gnd, shapes, protocol)
        predictions = [None if (row["query_id"], row["index_id"]) not in regions else
                       {"polygon": regions[row["query_id"], row["index_id"]].tolist()} for row in references]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (regions that found nothing are said so)
            result = custom_metric.compute(predictions=predictions, references=references, ranks=ranks,
                                           distractors=25, index_size=NUM_INDEX, num_queries=NUM_QUERIES)
        assert result["miou_det"] == pytest.approx(expected_miou[det], abs=1e-12)
        assert result["miou_seg"] == pytest.approx(expected_miou[seg], abs=1e-12)
        parsed = literal_authors.protocol_gnd(gnd, protocol)
        assert result["map_det"] == pytest.approx(literal_authors.pixel_map("custom", ranks.T, ious, parsed), abs=1e-12)
        assert result["image_map"] == pytest.approx(literal_authors.image_map(ranks.T, parsed), abs=1e-12)


def test_official_false_fills_polygons_exactly(custom_metric):
    """Without official, a polygon is filled exactly (pycocotools) and clipped to the image, like a mask."""
    gnd, shapes, regions, _ = _world(3)
    references = _references(gnd, shapes, "hard")
    polygon_predictions, mask_predictions = [], []
    for row in references:
        region = regions.get((row["query_id"], row["index_id"]))
        ok = region is not None and len(region) >= 3 and row["positive"]
        polygon_predictions.append({"polygon": region.tolist()} if ok else None)
        mask_predictions.append({"mask": masks.from_polygons([region], *SIZE)} if ok else None)
    options = dict(references=references, index_size=NUM_INDEX, num_queries=NUM_QUERIES, official=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert custom_metric.compute(predictions=polygon_predictions, **options)["per_pair"] == \
            custom_metric.compute(predictions=mask_predictions, **options)["per_pair"]


def test_polygon_predictions_need_the_released_shapes(custom_metric):
    gnd, shapes, regions, _ = _world(5)
    references = [{k: v for k, v in row.items() if k != "shapes"} for row in _references(gnd, shapes, "hard")]
    predictions = [{"polygon": [[1, 1], [9, 1], [9, 9]]} if row["positive"] else None for row in references]
    with pytest.raises(InputError, match="no shapes column.*official=False"):
        custom_metric.compute(predictions=predictions, references=references, index_size=NUM_INDEX,
                              num_queries=NUM_QUERIES)


@pytest.mark.parametrize("polygon, message", [
    ([1, 2, 3, 4, 5, 6], "flat"),
    ([[[1, 2], [3, 4], [5, 6]]], "one contour"),
    ([[1, 2], [3, "a"]], "number pairs"),
    ([[1, 2], [float("nan"), 3]], "finite"),
    ([[1, 2], [3e6, 3]], "8192"),
])
def test_bad_polygons_are_named(custom_metric, polygon, message):
    gnd, shapes, _, _ = _world(5)
    references = _references(gnd, shapes, "hard")
    predictions = [None] * len(references)
    predictions[0] = {"polygon": polygon}
    with pytest.raises(InputError, match=message) as caught:
        custom_metric.compute(predictions=predictions, references=references, index_size=NUM_INDEX,
                              num_queries=NUM_QUERIES)
    assert "predictions row 0" in str(caught.value)


def test_a_polygon_stands_alone(custom_metric):
    gnd, shapes, _, _ = _world(5)
    references = _references(gnd, shapes, "hard")
    predictions = [None] * len(references)
    predictions[0] = {"polygon": [[1, 2], [3, 4], [5, 1]], "bbox": [1, 1, 4, 4]}
    with pytest.raises(InputError, match="stands alone"):
        custom_metric.compute(predictions=predictions, references=references, index_size=NUM_INDEX,
                              num_queries=NUM_QUERIES)


def test_scribbles_are_refused_before_any_fill(custom_metric):
    """Thousands of random points cross every row thousands of times: OpenCV's fill would take minutes (it keeps
    the crossing edges sorted by bubble sort); an outline of as many points is scored at once."""
    rng = np.random.default_rng(0)
    truth = [np.array([[10.0, 10.0], [900.0, 20.0], [880.0, 700.0], [20.0, 650.0]])]
    with pytest.raises(InputError, match=r"region of 4,000 points whose edges cross each image row .* sort work"):
        authors_iou.pair_iou(rng.uniform([0, 0], [1024, 768], (4000, 2)), truth)
    angles = np.linspace(0, 2 * np.pi, 200_000, endpoint=False)
    circle = np.stack([512 + 300 * np.cos(angles), 384 + 300 * np.sin(angles)], 1)
    det, seg = authors_iou.pair_iou(circle, truth)
    assert 0.3 < seg < det < 0.7
