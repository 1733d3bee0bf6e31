"""The authors' result files, read as they are: matching results (np.save of a dict of points) and
revisitop-layout rankings (R1M included), through `pixret evaluate` on real built datasets."""

from __future__ import annotations

import faulthandler
import json
import math
import os
import pickle
import re
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from datasets import load_dataset
from pycocotools import mask as cocomask

from pixret import geometry, masks, synthetic
from pixret.build import build
from pixret.cli import main
from pixret.metric.files import authors
from pixret.metric.core.polygons import fill as fill_polygons
from pixret.metric.files.authors import AuthorsFormatError, read_matching_result
from pixret.metric.evaluation import score_protocols
from pixret.metric.files.safe_pickle import load_npy_object
from pixret.release import read_label

NUM_QUERIES, NUM_INDEX = 4, 12  # the tiny release


def _polygons(dataset_dir, seed: int = 0) -> dict:
    """{(q, i): (x, y) points} near the ground truth of every medium positive (inside the image), a few
    negatives and junk pairs too; one positive with an empty list (the method found nothing)."""
    rng = np.random.default_rng(seed)
    medium = load_dataset(str(dataset_dir), "pairs", split="medium")
    out = {}
    for row in medium:
        height, width = row["mask"]["size"] if row["mask"] else (48, 64)
        x, y, w, h = masks.bbox(row["mask"]) if row["mask"] else (10, 10, 20, 15)
        corners = geometry.rectangle((x, y), (x + w, y + h)) + rng.uniform(-4, 4, (4, 2))
        if rng.random() < 0.5:  # a pentagon now and then
            corners = np.insert(corners, 2, corners[1:3].mean(0) + rng.uniform(-3, 3, 2), axis=0)
        # eighths of a pixel: the same points whether a file stores them as float32 or float64
        out[row["query_id"], row["index_id"]] = np.round(np.clip(corners, 0, [width, height]) * 8) / 8
    for q in range(NUM_QUERIES):  # a negative per query: checked, not scored
        i = next(i for i in range(NUM_INDEX) if (q, i) not in out)
        out[q, i] = np.array([[1.5, 2.5], [30.25, 4.0], [20.0, 40.75]])
    first = next(pair for pair, row in zip(out, medium) if row["positive"])
    out[first] = np.zeros((0, 2))
    return out


def _save_matching_result(path: Path, polygons: dict, kinds=True, rowcol=False) -> Path:
    """As the authors write it: np.save of a dict 'qimlist_q_imlist_i' -> points (lists and arrays of any dtype)."""
    entries = {}
    for n, ((q, i), points) in enumerate(polygons.items()):
        points = points[:, ::-1] if rowcol else points
        value = [] if len(points) == 0 else points
        if kinds and len(points):
            value = [points.tolist(), points.astype(np.float32), [tuple(p) for p in points.tolist()]][n % 3]
        entries[f"qimlist_{q}_imlist_{i}"] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, entries)
    return path


def _pixret_predictions(path: Path, polygons: dict, sizes) -> Path:
    """pixret's own format from the same polygons (its "polygon" key)."""
    entries = [{"query_id": q, "index_id": i, "polygon": points.tolist()} for (q, i), points in polygons.items()
               if len(points)]
    path.write_text(json.dumps(entries))
    return path


def _evaluate_json(capsys, *args) -> dict:
    assert main(["evaluate", *map(str, args), "--format", "json", "--resamples", "0"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def results(tiny_dataset, tmp_path_factory):
    """Matching results of one method in the authors' layout, pixret's JSON of the same polygons, rankings."""
    folder = tmp_path_factory.mktemp("authors")
    polygons = _polygons(tiny_dataset["out"])
    sizes = [(48, 64)] * NUM_INDEX
    ranks = np.stack([np.random.default_rng(q).permutation(NUM_INDEX) for q in range(NUM_QUERIES)])
    np.save(folder / "roxford.npy", ranks.T.copy())  # revisitop's layout: (database, queries)
    return {"polygons": polygons, "sizes": sizes, "ranks": ranks, "dir": folder,
            "authors": _save_matching_result(folder / "sift_sp/matching_result/proxford.npy", polygons),
            "pixret": _pixret_predictions(folder / "preds.json", polygons, sizes)}


# ---------------------------------------------------------------- the same figures as pixret's own format
def test_matching_result_scores_as_pixret_format_of_the_same_polygons(tiny_dataset, results, capsys):
    dataset, ranks = tiny_dataset["out"], results["dir"] / "roxford.npy"
    ours = _evaluate_json(capsys, "--dataset", dataset, "--predictions", results["pixret"], "--ranks", ranks)
    theirs = _evaluate_json(capsys, "--dataset", dataset, "--predictions", results["authors"], "--ranks", ranks)
    ours.pop("notes")  # (pixret's file also has pairs no split holds, counted in a note; the authors' reader skips them)
    assert theirs.pop("notes") == [] and theirs == ours
    assert 0.3 < theirs["medium"]["miou_seg"] < 0.95 and 0.3 < theirs["medium"]["miou_det"] < 0.95
    assert theirs["medium"]["map_det"] > 0
    # the format named explicitly, and the authors' older (row, col) order
    rowcol = _save_matching_result(results["dir"] / "rowcol.npy", results["polygons"], rowcol=True)
    assert _evaluate_json(capsys, "--dataset", dataset, "--predictions", rowcol, "--ranks", ranks,
                          "--predictions-format", "authors", "--points-order", "rowcol") == {**ours, "notes": []}
    # the method is named after its folder, as the authors lay results out
    assert main(["evaluate", "--dataset", str(dataset), "--predictions", str(results["authors"]),
                 "--compare-paper"]) == 0
    assert re.search(r"-> \(yours\) +sift_sp ", capsys.readouterr().out)


def test_matching_result_as_predictions(results):
    by_pair = read_matching_result(results["authors"], NUM_QUERIES, results["sizes"])
    assert set(by_pair) == set(results["polygons"])
    empty = [pair for pair, points in results["polygons"].items() if len(points) == 0]
    assert [by_pair[pair] for pair in empty] == [None]
    pair, points = next((p, v) for p, v in results["polygons"].items() if len(v))
    assert set(by_pair[pair]) == {"polygon"} and np.array_equal(by_pair[pair]["polygon"], points)
    # only the pairs asked for are returned; every entry is still checked
    assert set(read_matching_result(results["authors"], NUM_QUERIES, results["sizes"], pairs=[pair])) == {pair}


def test_figures_are_the_authors_procedure_on_the_released_shapes(tmp_path, literal_authors):
    """An authors' file gets, pair by pair, exactly the IoUs of their procedure done literally (S x S canvases,
    fillPoly of the raw shapes) on the labels of the release; read the wrong way round, far from them."""
    height, width = 480, 640
    info = synthetic.write_tiny_release(tmp_path / "release", height=height, width=width)
    build("proxford", tmp_path / "release", tmp_path / "out")
    polygons = _polygons(tmp_path / "out", seed=1)
    del polygons[next(p for p, v in polygons.items() if len(v) == 0)]
    medium = load_dataset(str(tmp_path / "out"), "pairs", split="medium")
    pairs = [pair for pair in zip(medium["query_id"], medium["index_id"], medium["positive"]) if pair[2]]
    pairs = [(q, i) for q, i, _ in pairs if (q, i) in polygons]
    expected = {}
    for q, i in pairs:
        shapes = [s["points"] for s in read_label(tmp_path / "release" / info["labels"][q, i]).shapes]
        expected[q, i] = (literal_authors.compute_iou(polygons[q, i], shapes, "bbox"),
                          literal_authors.compute_iou(polygons[q, i], shapes, "segmentation"))
    path = _save_matching_result(tmp_path / "proxford.npy", polygons)
    for order in ("xy", "rowcol"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # read the wrong way round, the points say so
            by_pair = read_matching_result(path, NUM_QUERIES, [(height, width)] * NUM_INDEX, order)
            result = score_protocols({"medium": medium}, by_pair, benchmark="custom", index_size=NUM_INDEX,
                                     num_queries=NUM_QUERIES)["medium"]
        got = dict(zip(zip(result["per_pair"]["query_id"], result["per_pair"]["index_id"]),
                       zip(result["per_pair"]["iou_det"], result["per_pair"]["iou_seg"])))
        if order == "xy":
            assert {pair: got[pair] for pair in pairs} == expected
        else:
            assert np.abs(np.subtract([got[pair] for pair in pairs], [expected[pair] for pair in pairs])).mean() > 0.1


# ---------------------------------------------------------------- polygons that leave the image
def _fill_on_canvas(points, height, width, margin=200):
    big = masks.from_polygons([points + margin], height + 2 * margin, width + 2 * margin)
    return masks.decode(big)[margin:margin + height, margin:margin + width]


def test_polygon_leaving_the_image_is_filled_exactly_then_cropped():
    rng = np.random.default_rng(3)
    height, width = 48, 64
    for _ in range(200):  # quarter pixels: whole-pixel shifts of them are exact in floating point
        points = np.round(np.c_[rng.uniform(-50, width + 50, 5), rng.uniform(-40, height + 40, 5)] * 4) / 4
        got = cocomask.decode(fill_polygons([points], height, width))
        assert (got == _fill_on_canvas(points, height, width)).all()
    # pycocotools on the image itself is not exact there (it rounds negative coordinates towards zero and clamps
    # rows to the border), which is why the canvas is used
    triangle = np.array([[46.0, -19.0], [8.0, 52.0], [-16.0, 60.0]])
    direct = cocomask.frPyObjects([triangle.ravel().tolist()], height, width)[0]
    assert (cocomask.decode(direct) != _fill_on_canvas(triangle, height, width)).any()


def test_far_vertices_are_clipped_and_stay_fast():
    height, width = 768, 1024
    points = np.array([[100.0, 100.0], [3e9, 400.0], [100.0, 700.0]])  # a homography gone wild
    start = time.process_time()  # CPU time: what the work costs, however busy the machine is
    area = int(cocomask.area(fill_polygons([points], height, width)))
    assert time.process_time() - start < 1
    exact = geometry.polygon_area(geometry.clip_polygon(points, width, height))
    assert abs(area - exact) < 0.01 * exact


def _literal_clip(points, width, height):
    """Sutherland-Hodgman written out vertex by vertex, side by side: the reference for the vectorised one."""
    poly = [np.asarray(p, float) for p in points]
    sides = ((lambda p: p[0] >= 0, 0, 0.0), (lambda p: p[0] <= width, 0, width),
             (lambda p: p[1] >= 0, 1, 0.0), (lambda p: p[1] <= height, 1, height))
    for inside, axis, bound in sides:
        out = []
        for k in range(len(poly)):
            a, b = poly[k - 1], poly[k]
            if inside(b) != inside(a):
                t = (bound - a[axis]) / (b[axis] - a[axis])
                cross = a + t * (b - a)
                cross[axis] = bound
                out.append(cross)
            if inside(b):
                out.append(b)
        poly = out
        if not poly:
            return np.zeros((0, 2))
    return np.asarray(poly)


def test_clip_polygon_agrees_with_a_literal_loop():
    rng = np.random.default_rng(5)
    for _ in range(300):
        points = np.c_[rng.uniform(-100, 200, 6), rng.uniform(-80, 150, 6)]
        ours = geometry.clip_polygon(points, 64, 48)
        theirs = _literal_clip(points, 64, 48)
        assert ours.shape == theirs.shape  # the same polygon, maybe from another first vertex
        assert len(ours) == 0 or any(np.allclose(np.roll(ours, k, axis=0), theirs) for k in range(len(ours)))


# ---------------------------------------------------------------- legal but suspicious
def _read(tmp_path, entries: dict, **kw):
    path = tmp_path / "proxford.npy"
    np.save(path, entries)
    return read_matching_result(path, NUM_QUERIES, [(48, 64)] * NUM_INDEX, **kw)


SQUARE = [[5, 5], [30, 5], [30, 25], [5, 25]]


def test_polygon_wholly_outside_warns(tmp_path):
    entries = {"qimlist_0_imlist_1": SQUARE, "qimlist_0_imlist_2": [[70, 5], [90, 5], [90, 25]],
               "qimlist_1_imlist_3": SQUARE}
    with pytest.warns(UserWarning, match=r"1 of 3 regions lie wholly outside their index image: "
                                         r"'qimlist_0_imlist_2' \(x 70..90, y 5..25 in 64 x 48\) \(scored as the "
                                         r"authors do: on their canvas, .* official=False: IoU 0\)"):
        by_pair = _read(tmp_path, entries)
    assert cocomask.area(fill_polygons([by_pair[0, 2]["polygon"]], 48, 64)) == 0


def test_points_that_look_row_col_warn(tmp_path):
    tall = [[5, 50], [40, 50], [40, 60], [5, 60]]  # x up to 60 fits a 64-wide image only as (row, col)
    entries = {f"qimlist_0_imlist_{i}": tall for i in range(3)}
    with pytest.warns(UserWarning, match=r"the points look like \(row, col\), not \(x, y\): 3 of 3 regions .*"
                                         r"pass points_order='rowcol'$"):
        _read(tmp_path, entries)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _read(tmp_path, entries, points_order="rowcol")


def test_slivers_and_short_regions_are_kept_as_the_authors_score_them(tmp_path):
    """Collinear points, 2 points and 1 point are regions to the authors (fillPoly draws a line, a dot): kept."""
    entries = {"qimlist_2_imlist_0": [[1, 1], [10, 10], [20, 20]], "qimlist_2_imlist_1": [[3, 4], [9, 12]],
               "qimlist_2_imlist_2": [[7.5, 8.25]], "qimlist_2_imlist_3": SQUARE}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        by_pair = _read(tmp_path, entries)
    assert [len(by_pair[2, i]["polygon"]) for i in range(4)] == [3, 2, 1, 4]


def test_file_named_for_the_other_benchmark_warns(tmp_path):
    path = tmp_path / "prparis.npy"
    np.save(path, {"qimlist_0_imlist_1": SQUARE})
    with pytest.warns(UserWarning, match="named for PRParis but the dataset is PROxford"):
        read_matching_result(path, NUM_QUERIES, [(48, 64)] * NUM_INDEX, benchmark="proxford")


def test_authors_keys_one_based_are_named(tiny_dataset, medium, tmp_path, capsys):
    points = {}
    for r in medium:
        if r["positive"] and r["query_id"] < 3 and r["index_id"] < 11:
            points[f"qimlist_{r['query_id'] + 1}_imlist_{r['index_id'] + 1}"] = np.array([[1, 1], [30, 1], [30, 20]])
    np.save(tmp_path / "proxford.npy", np.array(points, dtype=object), allow_pickle=True)
    assert main(["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(tmp_path / "proxford.npy"),
                 "--resamples", "0"]) == 0
    assert "the ids of the keys look 1-based" in capsys.readouterr().err


# ---------------------------------------------------------------- pickles run no code
class _Evil:
    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_crafted_matching_result_runs_no_code(tiny_dataset, tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "proxford.npy"
    np.save(path, {"qimlist_0_imlist_1": _Evil(target)})
    result = subprocess.run(["pixret", "evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(path)],
                            capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 1
    assert result.stderr == f"error: {path}: not a plain-data pickle (refusing to load global posix.system)\n"
    assert not target.exists()
    np.load(path, allow_pickle=True)  # the file is what it claims: numpy's own loader runs it
    assert target.exists()


def test_safe_pickle_reads_what_np_save_writes(tmp_path):
    value = {"a": [np.arange(3, dtype=np.int16), (1.5, "x")], "b": np.float32(2.5), "c": b"\x00\xff"}
    np.save(tmp_path / "v.npy", value)
    loaded = load_npy_object(tmp_path / "v.npy")
    assert pickle.dumps(loaded) == pickle.dumps(np.load(tmp_path / "v.npy", allow_pickle=True).item())


# ---------------------------------------------------------------- bad files: one named error each
@pytest.fixture
def time_bound():
    """A case that hangs (even in C code) kills the run with a traceback; a slow one fails."""
    faulthandler.dump_traceback_later(120, exit=True)  # wall-clock: a hang
    start = time.process_time()  # CPU time: what the case costs, however busy the machine is
    yield
    faulthandler.cancel_dump_traceback_later()
    assert time.process_time() - start < 10


def _zero_d(value):
    array = np.empty((), object)
    array[()] = value
    return array


BAD_ENTRIES = [
    ("key format", {"q0_i1": SQUARE}, r"entry 'q0_i1': a key must be 'qimlist_<query id>_imlist_<index id>'$"),
    ("IoU file keys", {"0_1": [0.5, 0.4]}, r"entry '0_1': a key .* \('q_i' keys are the authors' IoU file"),
    ("leading zeros", {"qimlist_01_imlist_1": SQUARE}, r"'qimlist_01_imlist_1': .* without leading zeros"),
    ("key not a string", {(0, 1): SQUARE}, r"entry \(0, 1\): a key must be"),
    ("query outside", {"qimlist_4_imlist_1": SQUARE}, r"query id 4 is not in the dataset \(4 queries, ids 0..3\)"),
    ("index outside", {"qimlist_0_imlist_12": SQUARE}, r"index id 12 is not in the index \(12 images, ids 0..11\)"),
    ("points None", {"qimlist_0_imlist_1": None}, r"'qimlist_0_imlist_1': expected an N x 2 list .*got NoneType"),
    ("points string", {"qimlist_0_imlist_1": "5,5"}, r"expected an N x 2 list or array of points, got str"),
    ("points number", {"qimlist_0_imlist_1": 3.0}, r"expected an N x 2 list or array of points, got float"),
    ("points 0-d array", {"qimlist_0_imlist_1": np.array(2.0)}, r"got a 0-d array$"),
    ("points a set", {"qimlist_0_imlist_1": {(1, 2), (3, 4), (5, 6)}}, r"got set"),
    ("ragged", {"qimlist_0_imlist_1": [[1, 2], [3], [4, 5]]}, r"rows of different lengths"),
    ("three columns", {"qimlist_0_imlist_1": [[1, 2, 1], [3, 4, 1], [5, 1, 1]]}, r"got shape \(3, 3\)$"),
    ("transposed", {"qimlist_0_imlist_1": np.array(SQUARE).T}, r"got shape \(2, 4\) \(2 x N: transpose it\)"),
    ("flat", {"qimlist_0_imlist_1": [5, 5, 30, 5, 30, 25]}, r"got shape \(6,\) \(a flat list of coordinates"),
    ("nan", {"qimlist_0_imlist_1": [[1, 2], [np.nan, 4], [5, 6]]}, r"region has a point that is not a finite number "
     r"\(\[nan, 4.0\]\)"),
    ("huge", {"qimlist_0_imlist_1": [[1, 2], [3e10, 4], [5, 6]]}, r"region point 1 is \[30000000000.0, 4.0\], more "
     r"than 8192 px from the image origin"),
    ("strings", {"qimlist_0_imlist_1": [["1", "2"], ["3", "4"], ["5", "6"]]}, r"points must be numbers, got <U1"),
    ("booleans", {"qimlist_0_imlist_1": [[True, False]] * 3}, r"points must be numbers, got bool values"),
    ("none inside", {"qimlist_0_imlist_1": [[1, None], [3, 4], [5, 6]]}, r"points must be numbers, got object"),
    ("empty dict", {}, r"holds no entries"),
]
BAD_FILES = [
    ("a list, not a dict", _zero_d([SQUARE]), r"expected a dict 'qimlist_<query id>_imlist_<index id>' .*got list"),
    ("an array of dicts", np.array([{}, {}], dtype=object), r"expected a 0-d array holding a dict, got \(2,\)"),
    ("a plain array", np.zeros((12, 4), np.int64), r"holds a plain int64 array of shape \(12, 4\), not the pickled"),
    ("not npy", b"just some text", r"not a .npy file"),
    ("truncated", b"", r"not a .npy file"),
]


@pytest.mark.parametrize("name, entries, message", BAD_ENTRIES, ids=[c[0] for c in BAD_ENTRIES])
def test_bad_matching_result_entries(tmp_path, time_bound, name, entries, message):
    path = tmp_path / "proxford.npy"
    np.save(path, entries)
    with pytest.raises(AuthorsFormatError) as err:
        read_matching_result(path, NUM_QUERIES, [(48, 64)] * NUM_INDEX)
    assert str(err.value).startswith(f"{path}: ") and re.search(message, str(err.value)), str(err.value)


@pytest.mark.parametrize("name, content, message", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_matching_result_files(tmp_path, time_bound, name, content, message):
    path = tmp_path / "proxford.npy"
    path.write_bytes(content) if isinstance(content, bytes) else np.save(path, content)
    with pytest.raises(AuthorsFormatError) as err:
        read_matching_result(path, NUM_QUERIES, [(48, 64)] * NUM_INDEX)
    assert str(err.value).startswith(f"{path}: ") and re.search(message, str(err.value)), str(err.value)


def test_bad_files_through_the_command(tiny_dataset, results, tmp_path, time_bound, capsys):
    """One line, no traceback, the file and the entry named."""
    dataset = str(tiny_dataset["out"])
    bad = tmp_path / "proxford.npy"
    np.save(bad, {"qimlist_0_imlist_1": SQUARE, "qimlist_9_imlist_1": SQUARE})
    # read whole, refused while scoring (its fill would take minutes): still the file and the pair, not a row of a split
    q, i = next(pair for pair, points in results["polygons"].items() if len(points))
    scribble = tmp_path / "scribble" / "proxford.npy"
    scribble.parent.mkdir()
    np.save(scribble, {f"qimlist_{q}_imlist_{i}": np.random.default_rng(0).uniform(0, 8000, (100_000, 2))})
    cases = [
        (["--predictions", str(bad)], f"{bad}: entry 'qimlist_9_imlist_1': query id 9 is not in the dataset"),
        (["--predictions", str(scribble)], f"{scribble} (pair ({q}, {i})): a region of 100,000 points"),
        (["--predictions", str(results["pixret"]), "--points-order", "rowcol"],
         "--points-order describes the authors' matching result"),
        (["--predictions", str(bad), "--predictions-format", "pixret"], "pixret predictions are JSON or Parquet"),
        (["--predictions", str(results["pixret"]), "--predictions-format", "authors"], "preds.json: not a .npy file"),
    ]
    for args, message in cases:
        assert main(["evaluate", "--dataset", dataset, *args]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and message in err, err


# ---------------------------------------------------------------- the authors' rankings, R1M included
DISTRACTORS = 5000  # R1M's 1,001,001 in miniature (benchmarks/bench_authors.py runs the real size)


def test_authors_r1m_ranking_works_as_is(tiny_dataset, results, tmp_path, capsys, custom_metric):
    """A (database, queries) ranking of the index and the distractors after it, as the authors save R1M's."""
    total = NUM_INDEX + DISTRACTORS
    rng = np.random.default_rng(7)
    ranks = np.empty((total, NUM_QUERIES), np.int64)
    for q in range(NUM_QUERIES):  # the index images spread over the top 60, distractors everywhere else
        slots = rng.choice(60, NUM_INDEX, replace=False)
        ranks[slots, q] = rng.permutation(NUM_INDEX)
        ranks[np.setdiff1d(np.arange(total), slots), q] = NUM_INDEX + rng.permutation(DISTRACTORS)
    path = tmp_path / "R1Moxford.npy"
    np.save(path, ranks)
    base = ["--dataset", tiny_dataset["out"], "--predictions", results["authors"], "--ranks", path]
    assert main(["evaluate", *map(str, base)]) == 1
    assert "declare them: --distractors 1001001\n" in capsys.readouterr().err
    printed = _evaluate_json(capsys, *base, "--distractors", DISTRACTORS)
    by_pair = read_matching_result(results["authors"], NUM_QUERIES, results["sizes"])
    for protocol in ("medium", "hard"):
        split = load_dataset(str(tiny_dataset["out"]), "pairs", split=protocol)
        preds = [by_pair.get((r["query_id"], r["index_id"])) for r in split]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the empty entry: one positive without a prediction
            direct = custom_metric.compute(predictions=preds, references=split, ranks=ranks.T, index_size=NUM_INDEX,
                                           distractors=DISTRACTORS)
            # the distractors count: the same order of the index images alone scores higher
            index_only = np.stack([row[row < NUM_INDEX] for row in ranks.T])
            alone = custom_metric.compute(predictions=preds, references=split, ranks=index_only, index_size=NUM_INDEX)
        assert printed[protocol] == {k: v for k, v in direct.items() if k not in ("per_query", "per_threshold",
                                                                                     "per_pair", "protocol", "official",
                                                                                     "unit")}
        assert alone["image_map"] > printed[protocol]["image_map"] > 0
