"""pixret.writer: from a model's outputs (masks, RLEs, polygons, boxes, score matrices) to the result files
`pixret evaluate` reads, on a real built dataset, scored through the command."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from datasets import load_dataset

import pixret
from pixret import masks
from pixret.cli import main
from pixret.dataset import open_dataset
from pixret.metric.core.errors import InputError
from pixret.metric.files.results import read_predictions


@pytest.fixture(scope="module")
def world(tiny_dataset):
    data = open_dataset(str(tiny_dataset["out"]))
    splits = {p: load_dataset(str(tiny_dataset["out"]), "pairs", split=p) for p in ("medium", "hard")}
    truth = {(r["query_id"], r["index_id"]): r for r in splits["medium"]}  # (hard's pairs are medium's too)
    assert {(r["query_id"], r["index_id"]) for r in splits["hard"]} <= set(truth)
    return {"dataset": str(tiny_dataset["out"]), "sizes": data.index_sizes, "splits": splits, "truth": truth,
            "positives": sorted(pair for pair, r in truth.items() if r["positive"])}


def _evaluate(world, preds, *extra, capsys) -> dict:
    assert main(["evaluate", "--dataset", world["dataset"], "--predictions", str(preds), "--format", "json",
                 "--resamples", "0", *extra]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _box(mask_rle) -> list[float]:
    return masks.bbox(mask_rle)  # [x, y, w, h] pixels


# ---------------------------------------------------------------- which pairs
def test_pairs_to_predict_are_the_splits_rows(world):
    pairs = pixret.pairs_to_predict(world["dataset"])
    assert set(pairs) == set(world["truth"]) and len(pairs) == len(world["truth"])
    assert list(pairs) == sorted(pairs)  # (query, index) order, each pair once
    positive = dict(zip(pairs, pairs.positive))
    assert {p for p, v in positive.items() if v} == set(world["positives"])
    assert all(isinstance(q, int) and isinstance(i, int) for q, i in pairs)
    assert list(pairs.of_query(1)) == sorted(i for q, i in world["truth"] if q == 1)
    assert "positive (scored)" in str(pairs) and "junk (read, not scored)" in str(pairs)
    medium = pixret.pairs_to_predict(world["dataset"], protocols="medium")
    assert set(medium) == {(r["query_id"], r["index_id"]) for r in world["splits"]["medium"]}
    with pytest.raises(InputError, match="protocols must name some of"):
        pixret.pairs_to_predict(world["dataset"], protocols=["medium", "hardest"])


# ---------------------------------------------------------------- every kind of prediction, scored as written
def test_masks_rles_and_boxes_round_trip_through_evaluate(world, tmp_path, capsys):
    """Ground truth given every way the writer takes it scores 1 (masks: segmentation, boxes: detection)."""
    path = tmp_path / "preds.json"
    with pixret.PredictionWriter(path, dataset=world["dataset"], box_format="xyxy") as out:
        for k, (q, i) in enumerate(pixret.pairs_to_predict(world["dataset"])):
            row = world["truth"][(q, i)]
            if not row["positive"]:
                continue
            x, y, w, h = _box(row["mask"])
            height, width = world["sizes"][i]
            if k % 3 == 0:  # a bool array and an xyxy box (the writer's format)
                out.add(q, i, mask=masks.decode(row["mask"]).astype(bool), box=[x, y, x + w, y + h])
            elif k % 3 == 1:  # an RLE with bytes counts (pycocotools' own) and a normalised centre box
                out.add(q, i, mask={"size": row["mask"]["size"], "counts": row["mask"]["counts"].encode()},
                        box=[(x + w / 2) / width, (y + h / 2) / height, w / width, h / height], box_format="cxcywh",
                        normalized=True)
            else:  # 0/255 integers (a PIL mask image), a pixel xywh box
                out.add(q, i, mask=masks.decode(row["mask"]) * np.uint8(255), box=[x, y, w, h], box_format="xywh")
    written = out.close()
    assert written.count == len(world["positives"]) and written.missing == [] and written.extra == []
    entries = json.loads(path.read_text())
    assert all(set(e) == {"query_id", "index_id", "segmentation", "bbox"} for e in entries)
    figures = _evaluate(world, path, capsys=capsys)
    for protocol in ("medium", "hard"):
        assert figures[protocol]["miou_seg"] == 1.0
        assert figures[protocol]["miou_det"] == pytest.approx(1.0)
    assert figures["warnings"] == [] and figures["unit"] == "fraction"
    by_pair = read_predictions(path, 4, world["sizes"])
    assert set(by_pair) == set(world["positives"])


def test_write_predictions_from_a_mapping_and_from_dicts(world, tmp_path, capsys):
    truth = {pair: masks.decode(world["truth"][pair]["mask"]).astype(bool) for pair in world["positives"]}
    written = pixret.write_predictions(tmp_path / "a.json", truth, dataset=world["dataset"])
    assert written.count == len(truth) and "wrote" in str(written)
    items = [{"query_id": q, "index_id": i, "mask": m} for (q, i), m in truth.items()]
    pixret.write_predictions(tmp_path / "b.json", items)
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text()
    assert _evaluate(world, tmp_path / "b.json", capsys=capsys)["medium"]["miou_seg"] == 1.0
    with pytest.raises(InputError, match=r"items\[0\]: unknown key 'bbox' \(pass it as box, with box_format\)"):
        pixret.write_predictions(tmp_path / "c.json", [{"query_id": 0, "index_id": 1, "bbox": [1, 2, 3, 4]}])
    assert not (tmp_path / "c.json").exists()


def test_polygon_is_written_under_its_own_key(world, tmp_path):
    path = tmp_path / "poly.json"
    q, i = world["positives"][0]
    with pytest.warns(UserWarning, match="have no prediction"), \
            pixret.PredictionWriter(path, dataset=world["dataset"]) as out:
        out.add(q, i, polygon=np.array([[1, 2], [30.5, 2], [30.5, 20]]))
        out.add(*world["positives"][1], polygon=[])  # no region
        out.add(*world["positives"][2], polygon=[[5.0, 5.0]])  # one point: N >= 1
    assert json.loads(path.read_text()) == [
        {"query_id": q, "index_id": i, "polygon": [[1.0, 2.0], [30.5, 2.0], [30.5, 20.0]]},
        {"query_id": world["positives"][1][0], "index_id": world["positives"][1][1], "polygon": []},
        {"query_id": world["positives"][2][0], "index_id": world["positives"][2][1], "polygon": [[5.0, 5.0]]}]


def test_polygons_round_trip_through_evaluate(world, tmp_path, capsys):
    """A rectangle of the ground truth's box, written as a polygon, scores the box's IoU with the mask."""
    path = tmp_path / "poly.json"
    with pixret.PredictionWriter(path, dataset=world["dataset"]) as out:
        for q, i in world["positives"]:
            x, y, w, h = _box(world["truth"][(q, i)]["mask"])
            out.add(q, i, polygon=[[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
    figures = _evaluate(world, path, capsys=capsys)
    assert figures["medium"]["miou_det"] == pytest.approx(1.0, abs=0.05)


# ---------------------------------------------------------------- checked as the metric will, before any file
@pytest.mark.parametrize("call, message", [
    (lambda out, w: out.add(0, 99, mask=np.ones((2, 2), bool)), r"unknown index_id 99 \(the index has 12 images"),
    (lambda out, w: out.add(7, 1, mask=np.ones((2, 2), bool)), r"unknown query_id 7 \(the dataset has 4 queries"),
    (lambda out, w: out.add(0, 1.5, mask=np.ones((2, 2), bool)), "index_id must be a non-negative integer"),
    (lambda out, w: out.add(0, 1, mask=np.ones(w["sizes"][1][::-1], bool)), "transposed\\? a mask is"),
    (lambda out, w: out.add(0, 1, mask=np.ones((3, 3), bool)), r"mask is 3x3 but index image 1 is"),
    (lambda out, w: out.add(0, 1, mask=np.full(w["sizes"][1], 0.7)), "a probability map: threshold it"),
    (lambda out, w: out.add(0, 1, mask={"size": list(w["sizes"][1]), "counts": "0"}), "mask: RLE runs do not cover"),
    (lambda out, w: out.add(0, 1, mask=np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.5]])), "a polygon\\? pass it as"),
    (lambda out, w: out.add(0, 1, box=[1, 2, 3, 4]), "box given without a box_format: declare it"),
    (lambda out, w: out.add(0, 1, box=[5, 5, 1, 1], box_format="xyxy"), "x2 < x1 or y2 < y1: not corners"),
    (lambda out, w: out.add(0, 1, box=[1, 2, 3], box_format="xywh"), "box must be 4 numbers"),
    (lambda out, w: out.add(0, 1, box=[0, 0, np.nan, 1], box_format="xywh"), "not finite"),
    (lambda out, w: out.add(0, 1, box=[10, 10, 50, 50], box_format="xywh", normalized=True),
     "declared normalized but has values past 1"),
    (lambda out, w: out.add(0, 1, box=[0, 0, 5, 5], box_format="xywh", image_size=(5, 5)), r"image_size \(5, 5\)"),
    (lambda out, w: out.add(0, 1, box=[0, 0, 5, 5], box_format="xyz"), "box_format must be one of"),
    (lambda out, w: out.add(0, 1, polygon=[[0, 0], [1, 1]], mask=np.ones(w["sizes"][1], bool)),
     "a polygon is a prediction of its own"),
    (lambda out, w: out.add(0, 1, polygon=[1, 2, 3, 4]), r"a flat list of 4 numbers: give \[\[x, y\], ...\]"),
    (lambda out, w: out.add(0, 1, polygon=[[[0, 0], [1, 0], [1, 1]]] * 2), "2 contours: a prediction is one"),
    (lambda out, w: out.add(0, 1), "give mask=, polygon= or box="),
    (lambda out, w: [out.add(0, 1, box=[0, 0, 5, 5], box_format="xywh") for _ in range(2)],
     "duplicate pair; prediction 1 has it already"),
])
def test_each_add_is_checked_and_nothing_is_written(world, tmp_path, call, message):
    path = tmp_path / "preds.json"
    with pytest.raises(InputError, match=message) as caught:
        with pixret.PredictionWriter(path, dataset=world["dataset"]) as out:
            out.add(2, 4, box=[0, 0, 5, 5], box_format="xywh")
            call(out, world)
    assert "pair (" in str(caught.value) or "give mask=" in str(caught.value) or "prediction" in str(caught.value)
    assert not path.exists() and list(tmp_path.iterdir()) == []  # nothing, not even a temporary file


def test_the_path_is_checked_first(world, tmp_path):
    with pytest.raises(InputError, match="name the file \\*.json"):
        pixret.PredictionWriter(tmp_path / "preds.parquet")
    with pytest.raises(InputError, match="folder .* not found"):
        pixret.PredictionWriter(tmp_path / "no" / "preds.json")
    (tmp_path / "old.json").write_text("[]")
    with pytest.raises(InputError, match="exists: pass overwrite=True"):
        pixret.PredictionWriter(tmp_path / "old.json")
    with pixret.PredictionWriter(tmp_path / "old.json", overwrite=True) as out:
        out.add(0, 1, box=[0, 0, 5, 5], box_format="xywh")
    assert len(json.loads((tmp_path / "old.json").read_text())) == 1
    (tmp_path / "d.json").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        pixret.PredictionWriter(tmp_path / "d.json", overwrite=True)
    with pytest.raises(InputError, match="no prediction was added"):
        pixret.PredictionWriter(tmp_path / "empty.json").close()
    assert not (tmp_path / "empty.json").exists()
    out = pixret.PredictionWriter(tmp_path / "once.json")
    out.add(0, 1, box=[0, 0, 5, 5], box_format="xywh")
    assert out.close() is out.close()
    with pytest.raises(InputError, match="the writer is closed"):
        out.add(0, 2, box=[0, 0, 5, 5], box_format="xywh")


# ---------------------------------------------------------------- what is missing, extra, or looks wrong
def test_close_says_what_is_missing_and_extra(world, tmp_path, capsys):
    negatives = [(q, i) for q in range(4) for i in range(12) if (q, i) not in world["truth"]]
    path = tmp_path / "preds.json"
    with pytest.warns(UserWarning, match=r"2 of \d+ positive pairs of medium and hard have no prediction .*count as "
                                         "IoU 0"):
        with pixret.PredictionWriter(path, dataset=world["dataset"], box_format="xywh") as out:
            for q, i in world["positives"][2:] + negatives[:3]:
                out.add(q, i, box=[0, 0, 5, 5])
    written = out.close()
    assert written.missing == world["positives"][:2] and written.extra == negatives[:3]
    assert f"{len(world['positives'][2:]) + 3} predictions" in str(written) and "2 positive pairs" in str(written)
    err = capsys.readouterr().err
    _evaluate(world, path, capsys=capsys)  # evaluate counts the extra ones in its note, as the writer did
    assert main(["evaluate", "--dataset", world["dataset"], "--predictions", str(path), "--resamples", "0"]) == 0
    assert "note: 3 of" in capsys.readouterr().err and "warning" not in err


def test_one_based_ids_are_warned_at_close(world, tmp_path):
    path = tmp_path / "preds.json"
    with pytest.warns(UserWarning, match="the ids look 1-based .* pixret evaluate refuses such a file"):
        with pixret.PredictionWriter(path, dataset=world["dataset"], box_format="xywh") as out:
            for q, i in pixret.pairs_to_predict(world["dataset"]):
                if i + 1 < 12:
                    out.add(q, i + 1, box=[0, 0, 5, 5], image_size=world["sizes"][i + 1])
    assert path.exists()  # the model's work is kept: evaluate refuses it, --trust-ids scores it


def test_pixel_boxes_within_0_1_are_warned(world, tmp_path):
    with pytest.warns(UserWarning, match="lies within \\[0, 1\\]: normalised coordinates\\? declare them"):
        with pixret.PredictionWriter(tmp_path / "p.json", box_format="cxcywh") as out:
            out.add(0, 1, box=[0.5, 0.5, 0.2, 0.3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pixret.PredictionWriter(tmp_path / "q.json", box_format="cxcywh", normalized=True) as out:
            out.add(0, 1, box=[0.5, 0.5, 0.2, 0.3], image_size=(100, 200))
    assert json.loads((tmp_path / "q.json").read_text())[0]["bbox"] == pytest.approx([80.0, 35.0, 40.0, 30.0])
    with pytest.raises(InputError, match="a normalized box needs the image's size"):
        with pixret.PredictionWriter(tmp_path / "r.json", box_format="xyxy", normalized=True) as out:
            out.add(0, 1, box=[0.1, 0.1, 0.2, 0.2])


# ---------------------------------------------------------------- ranks
def _reference_ranks(scores: np.ndarray) -> np.ndarray:
    """Best first, ties by id: the definition, one query at a time."""
    return np.array([sorted(range(scores.shape[1]), key=lambda i: (-scores[q, i], i)) for q in range(len(scores))])


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.uint8, bool])
def test_ranks_from_scores_breaks_ties_by_id(dtype):
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 4, (7, 50)).astype(dtype)  # many ties, also at every top-k cut
    expected = _reference_ranks(scores.astype(np.float64))
    full = pixret.ranks_from_scores(scores)
    assert full.dtype == np.int64 and full.shape == (7, 50) and (full == expected).all()
    for k in (1, 5, 13, 49, 50, 80):
        top = pixret.ranks_from_scores(scores, top_k=k)
        assert (top == expected[:, :min(k, 50)]).all(), k


def test_ranks_from_scores_of_distinct_floats_and_blocks(monkeypatch):
    from pixret import writer

    rng = np.random.default_rng(0)
    scores = rng.random((9, 300))
    expected = np.argsort(-scores, axis=1, kind="stable")
    monkeypatch.setattr(writer, "RANKS_MEMORY", 300 * 8 * 2)  # two query rows a pass: the blocks join up
    assert (pixret.ranks_from_scores(scores, top_k=20) == expected[:, :20]).all()
    assert (pixret.ranks_from_scores(scores) == expected).all()
    inf = scores.copy()
    inf[:, 5] = np.inf
    inf[:, 6] = -np.inf
    ranks = pixret.ranks_from_scores(inf, top_k=3)
    assert (ranks[:, 0] == 5).all() and (pixret.ranks_from_scores(inf)[:, -1] == 6).all()


def test_ranks_from_id_lists_and_refusals(world):
    assert pixret.ranks_from_scores([[3, 1, 2], [0, 1, 2]]).tolist() == [[3, 1, 2], [0, 1, 2]]
    assert pixret.ranks_from_scores([np.array([3, 1, 2]), [0, 1]], top_k=2).tolist() == [[3, 1], [0, 1]]
    cases = [
        ([[1, 1, 2]], {}, "lists index id 1 twice"),
        ([[1, 2], [1]], {}, "holds 1 ids, others 2: .* pass top_k=1"),
        ([[1, 2], [1]], {"top_k": 2}, "fewer than top_k=2"),
        ([[0.5, 2.0]], {}, "index ids must be integers.*scores go as one array"),
        ([[-1, 2]], {}, "-1: a search library's 'no result'"),
        ([[12, 2]] * 4, {"dataset": world["dataset"]}, "past the 12 index images .*: 1-based"),
        ([[0, 2]] * 3, {"dataset": world["dataset"]}, "3 id lists but the dataset has 4 queries"),
        (np.array([[0.1, np.nan]]), {}, "NaN values \\(the first: query row 0, index column 1\\)"),
        (np.zeros((12, 4)), {"dataset": world["dataset"]}, "scores \\(num_index, num_queries\\)\\? pass scores.T"),
        (np.zeros((4, 10), np.int64), {"dataset": world["dataset"]}, "pass them as a list of per-query lists"),
        (np.zeros((4, 12)), {"dataset": world["dataset"], "distractors": 5}, "12 index images \\+ 5 distractors"),
        (np.zeros(12), {}, "must be a \\(num_queries, num_index\\) array"),
        (np.zeros((4, 12)), {"top_k": 0}, "top_k must be a positive integer"),
        (np.array([["a", "b"]]), {}, "scores must be numbers"),
    ]
    for scores, options, message in cases:
        with pytest.raises(InputError, match=message):
            pixret.ranks_from_scores(scores, **options)
    with pytest.warns(UserWarning, match="index ids of a ranking\\? those go as a list"):
        pixret.ranks_from_scores(np.stack([np.random.default_rng(q).permutation(12) for q in range(4)]))


def test_ranks_file_scores_through_evaluate(world, tmp_path, capsys):
    """Perfect scores (positives first) give pixel mAP 1 with perfect masks, through the files."""
    scores = np.zeros((4, 12))
    for q, i in world["positives"]:
        scores[q, i] = 1.0
    np.save(tmp_path / "ranks.npy", pixret.ranks_from_scores(scores, top_k=8, dataset=world["dataset"]))
    pixret.write_predictions(tmp_path / "p.json", {p: world["truth"][p]["mask"] for p in world["positives"]},
                             dataset=world["dataset"])
    figures = _evaluate(world, tmp_path / "p.json", "--ranks", str(tmp_path / "ranks.npy"), capsys=capsys)
    assert figures["medium"]["map_seg"] == 1.0 and figures["medium"]["image_map"] == 1.0
