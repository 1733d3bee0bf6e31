"""pixret evaluate, export-coco, show and push on a real built dataset, through the command's main(argv)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset
from PIL import Image
from pycocotools.coco import COCO

from pixret import geometry, masks, report
from pixret.build import build
from pixret.cli import main
from pixret.coco import coco_dict, export
from pixret.dataset import DatasetError, open_dataset
from pixret.publish import PublishError as ValidationError, plan_dataset, plan_metric
from pixret.gallery import show

METRIC_DIR = Path(__file__).resolve().parents[1] / "metric" / "pixret_map"


def _gt_predictions(dataset_dir):
    """Ground-truth masks as a COCO-results list, for every labelled pair (once per pair)."""
    medium = load_dataset(str(dataset_dir), "pairs", split="medium")
    return [{"query_id": r["query_id"], "index_id": r["index_id"], "segmentation": r["mask"], "score": 1.0}
            for r in medium if r["mask"] is not None]


@pytest.fixture
def files(tiny_dataset, tmp_path):
    preds = _gt_predictions(tiny_dataset["out"])
    preds[0] = {**preds[0], "segmentation": None, "bbox": [0, 0, 10, 10]}  # one detection-only entry
    (tmp_path / "preds.json").write_text(json.dumps(preds))
    ranks = np.stack([np.random.default_rng(q).permutation(12) for q in range(4)])
    np.save(tmp_path / "ranks.npy", ranks)
    np.save(tmp_path / "ranks_revisitop.npy", ranks.T.copy())
    return {"preds": preds, "ranks": ranks, "dir": tmp_path}


# ---------------------------------------------------------------- pixret evaluate
def test_evaluate_tool_equals_the_metric(tiny_dataset, files, tmp_path, capsys, custom_metric):
    out = str(tiny_dataset["out"])
    args = ["evaluate", "--dataset", out, "--predictions", str(files["dir"] / "preds.json"), "--ranks",
            str(files["dir"] / "ranks.npy"), "--format", "json", "--per-query", str(tmp_path / "pq.csv")]
    assert main(args) == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out)
    assert "warning: medium: 1 of 20 scored positive pairs have a bbox but no mask" in captured.err
    by_pair = {(p["query_id"], p["index_id"]): p for p in files["preds"]}
    for protocol in ("medium", "hard"):
        split = load_dataset(out, "pairs", split=protocol)
        preds = []
        for row in split:
            p = by_pair.get((row["query_id"], row["index_id"]))
            preds.append(None if p is None else {"mask": p.get("segmentation"), "bbox": p.get("bbox")})
        direct = custom_metric.compute(predictions=preds, references=split, ranks=files["ranks"], index_size=12)
        intervals = printed[protocol].pop("intervals")
        assert direct["unit"] == printed["unit"] == "fraction"
        assert printed[protocol] == {k: v for k, v in direct.items() if k not in (
            "per_query", "per_threshold", "per_pair", "protocol", "official", "unit")}
        assert all(low <= printed[protocol][figure] <= high for figure, (low, high) in intervals.items())
    assert 0 < printed["medium"]["miou_seg"] < 1  # the box-only entry counts 0 for segmentation
    assert 0 < printed["medium"]["miou_det"] < 1
    rows = list(csv.DictReader(open(tmp_path / "pq.csv")))
    assert len(rows) == 2 * 4 and rows[0]["protocol"] == "medium" and rows[0]["query_id"] == "0"
    assert float(rows[1]["miou_det"]) == pytest.approx(1.0)


def test_evaluate_tool_layouts_and_formats(tiny_dataset, files, capsys):
    base = ["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(files["dir"] / "preds.json")]
    assert main(base + ["--ranks", str(files["dir"] / "ranks.npy"), "--format", "json"]) == 0
    ours = json.loads(capsys.readouterr().out)
    assert main(base + ["--ranks", str(files["dir"] / "ranks_revisitop.npy"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == ours
    square = files["dir"] / "square.npy"
    np.save(square, files["ranks"][:, :4])  # (4, 4) with 4 queries: which axis is which?
    assert main(base + ["--ranks", str(square)]) == 1
    assert "ambiguous" in capsys.readouterr().err
    assert main(base + ["--ranks", str(square), "--ranks-layout", "queries-first"]) == 0
    capsys.readouterr()
    assert main(base + ["--format", "markdown"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].startswith("| protocol | mIoU D | mIoU S")
    assert "| medium |" in text and "| hard |" in text
    assert main(base) == 0
    assert "mIoU D" in capsys.readouterr().out.splitlines()[0]


def test_evaluate_tool_reads_parquet(tiny_dataset, files, tmp_path, capsys):
    rows = _gt_predictions(tiny_dataset["out"])
    table = pa.Table.from_pylist([{"query_id": r["query_id"], "index_id": r["index_id"],
                                   "segmentation": r["segmentation"]} for r in rows])
    pq.write_table(table, tmp_path / "preds.parquet")
    assert main(["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(tmp_path / "preds.parquet"),
                 "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["medium"]["miou_seg"] == result["hard"]["miou_seg"] == 1.0


@pytest.mark.parametrize("case, message", [
    ("unknown_query", r"entry 2 \(pair \(9, \d+\)\): unknown query_id 9"),
    ("unknown_index", r"entry 2 \(pair \(\d, 99\)\): unknown index_id 99"),
    ("size", r"entry 2 \(pair \(\d, \d+\)\): mask size \[10, 10\] but index image"),
    ("duplicate", "entry 3 .*: duplicate pair; entry 2 has it too"),
    ("json", "not valid JSON"),
    ("not_list", "expected a JSON list"),
    ("polygon", "entry 2 .*: segmentation: expected a COCO RLE dict .size, counts., got list; a polygon goes under "
     "'polygon'"),
    ("empty", "holds no predictions"),
    ("misspelt", "entry 2 .*: unknown key 'segmentaton'; accepted keys: mask .COCO alias: segmentation."),
])
def test_evaluate_tool_bad_files(tiny_dataset, files, capsys, case, message):
    preds = [dict(p) for p in files["preds"]]
    path = files["dir"] / "bad.json"
    if case == "unknown_query":
        preds[2]["query_id"] = 9
    elif case == "unknown_index":
        preds[2]["index_id"] = 99
    elif case == "size":
        preds[2]["segmentation"] = masks.encode(np.ones((10, 10), np.uint8))
    elif case == "duplicate":
        preds[3] = {**preds[3], "query_id": preds[2]["query_id"], "index_id": preds[2]["index_id"]}
    elif case == "polygon":
        preds[2]["segmentation"] = [[1, 1, 5, 1, 5, 5]]
    elif case == "empty":
        preds = []
    elif case == "misspelt":
        preds[2]["segmentaton"] = preds[2].pop("segmentation")
    text = {"json": "[{", "not_list": "{}"}.get(case, json.dumps(preds))
    path.write_text(text)
    assert main(["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(path)]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and err.startswith("error: ")
    assert __import__("re").search(message, err), err


def test_compare_paper_and_plots(tiny_dataset, files, tmp_path, capsys):
    args = ["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(files["dir"] / "preds.json"),
            "--ranks", str(files["dir"] / "ranks.npy"), "--compare-paper", "--name", "tiny", "--format", "markdown"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "**Table 1 (PROxford)" in text and "**Table 2 (PROxford)" in text
    # the tiny build is not the benchmark: the row is marked and not ranked among the paper's
    assert "| **(yours)** | **tiny (not comparable: on synthetic or custom data, not the benchmark)** |" in text
    assert "not comparable to the paper's, so not ranked among them" in text


# ---------------------------------------------------------------- predictions no split holds, ids that look 1-based
def _entries(split, dq=0, di=0):
    return [{"query_id": r["query_id"] + dq, "index_id": r["index_id"] + di, "segmentation": r["mask"]}
            for r in split if r["positive"]]


def test_one_based_index_ids_are_an_error(tiny_dataset, splits, tmp_path, capsys):
    """A normal-looking table of nonsense is refused; --trust-ids (trust_ids=True) scores it, with the warning."""
    held = [r for r in splits["medium"] if r["index_id"] + 1 < 12]  # positives and junk, as a writer gives them
    entries = [{"query_id": r["query_id"], "index_id": r["index_id"] + 1, "bbox": [1.0, 1.0, 5.0, 5.0]} for r in held]
    (tmp_path / "p.json").write_text(json.dumps(entries))
    args = ["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(tmp_path / "p.json")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'p.json'}: ") and err.count("\n") == 1
    assert "predictions are for pairs no evaluated split holds" in err and "with index_id - 1" in err
    assert "the ids look 1-based" in err and "pass --trust-ids if these ids are right" in err
    assert main(args + ["--trust-ids", "--resamples", "0"]) == 0
    err = capsys.readouterr().err
    assert "warning: " in err and "the ids look 1-based" in err
    from pixret.evaluation import evaluate_files
    from pixret.metric.evaluation import ShiftedIds

    with pytest.raises(ShiftedIds, match="pass trust_ids=True if these ids are right"):
        evaluate_files(str(tiny_dataset["out"]), tmp_path / "p.json")


def test_predictions_for_negatives_only_are_not_taken_for_shifted_ids(tiny_dataset, splits, tmp_path, capsys):
    """Predictions of negative pairs only: nothing is scored, said once in those terms (no "1-based", no "empty")."""
    held = {(r["query_id"], r["index_id"]) for s in splits.values() for r in s}
    sizes = open_dataset(str(tiny_dataset["out"])).index_sizes
    entries = [{"query_id": q, "index_id": i, "segmentation": masks.encode(np.ones(sizes[i], bool))}
               for q in range(4) for i in range(12) if (q, i) not in held]
    (tmp_path / "p.json").write_text(json.dumps(entries))
    assert main(["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(tmp_path / "p.json"),
                 "--resamples", "0"]) == 0
    err = capsys.readouterr().err
    assert f"none of the {len(entries)} predictions is for a pair the evaluated splits hold: nothing is scored" in err
    assert "1-based" not in err and "empty" not in err


def test_negatives_among_the_predictions_are_counted(tiny_dataset, splits, tmp_path, capsys):
    entries = _entries(splits["medium"])
    held = {(r["query_id"], r["index_id"]) for r in splits["medium"]}
    negatives = [(q, i) for q in range(4) for i in range(12) if (q, i) not in held]
    size = entries[0]["segmentation"]["size"]
    empty = masks.encode(np.zeros(size, np.uint8))
    entries += [{"query_id": q, "index_id": i, "segmentation": empty} for q, i in negatives]
    (tmp_path / "p.json").write_text(json.dumps(entries))
    assert main(["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(tmp_path / "p.json"),
                 "--protocols", "medium"]) == 0
    err = capsys.readouterr().err
    assert f"note: {len(negatives)} of {len(entries)} predictions are for pairs the evaluated splits do not hold" in err
    assert "1-based" not in err


def test_one_based_query_ids_are_named(tiny_dataset, medium, tmp_path, capsys):
    entries = [e for e in _entries(medium, dq=1) if e["query_id"] < 4]  # query 4 would be an error (below)
    (tmp_path / "p.json").write_text(json.dumps(entries))
    assert main(["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(tmp_path / "p.json"),
                 "--resamples", "0"]) == 0
    assert "no prediction names query 0, while the split's queries start there" in capsys.readouterr().err
    (tmp_path / "p.json").write_text(json.dumps(_entries(medium, dq=1)))
    assert main(["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(tmp_path / "p.json")]) == 1
    assert "unknown query_id 4 (the dataset has 4 queries, ids 0..3): the id equals the count, as 1-based ids end" \
        in capsys.readouterr().err


# ---------------------------------------------------------------- figures that are not the benchmark's
def test_compare_paper_marks_a_subset_and_the_unofficial_variant(tiny_dataset, splits, tmp_path, capsys):
    (tmp_path / "p.json").write_text(json.dumps(_entries(splits["medium"])))
    np.save(tmp_path / "r.npy", np.tile(np.arange(12), (4, 1)))
    base = ["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(tmp_path / "p.json"),
            "--ranks", str(tmp_path / "r.npy"), "--compare-paper", "--name", "mine"]
    assert main(base + ["--queries", "2", "0"]) == 0
    out = capsys.readouterr().out
    assert "subset: figures over 2 queries only ([2, 0]), not the benchmark's figures" in out
    assert "mine (not comparable: on synthetic or custom data" in out  # the tiny build is custom data first
    assert main(base + ["--unofficial"]) == 0
    assert "unofficial variant (official=False)" in capsys.readouterr().out


# ---------------------------------------------------------------- files: pipes, damaged headers, misnamed
def test_predictions_from_standard_input(tiny_dataset, splits):
    text = json.dumps(_entries(splits["medium"]))
    done = subprocess.run([sys.executable, "-c", "from pixret.cli import main; raise SystemExit(main())", "evaluate",
                           "--dataset", str(tiny_dataset["out"]),
                           "--predictions", "/dev/stdin", "--format", "json", "--protocols", "medium"],
                          input=text, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["medium"]["miou_seg"] == 1.0


@pytest.mark.parametrize("header", [b'"""' + b"{'descr': '<i8', 'fortran_order': False, 'shape': (4, 12), }",
                                    b"{'descr': '<i8', 'fortran_order': False, 'shape': (4, 12",
                                    b"{'descr': \"<i8, 'fortran_order': False, 'shape': (4, 12), }"])
def test_damaged_npy_header_is_one_line(tiny_dataset, splits, tmp_path, capsys, header):
    (tmp_path / "p.json").write_text(json.dumps(_entries(splits["medium"])))
    np.save(tmp_path / "r.npy", np.tile(np.arange(12), (4, 1)))
    raw = bytearray((tmp_path / "r.npy").read_bytes())
    length = int.from_bytes(raw[8:10], "little")
    raw[10:10 + length] = header.ljust(length - 1) + b"\n"
    (tmp_path / "r.npy").write_bytes(bytes(raw))
    code = main(["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(tmp_path / "p.json"),
                 "--ranks", str(tmp_path / "r.npy")])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith(f"error: {tmp_path / 'r.npy'}: not a plain .npy array of index ids")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_an_npy_named_json_is_named(tiny_dataset, tmp_path, capsys):
    np.save(tmp_path / "p.npy", np.array({"qimlist_0_imlist_1": []}, dtype=object), allow_pickle=True)
    (tmp_path / "p.npy").rename(tmp_path / "p.json")
    assert main(["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(tmp_path / "p.json")]) == 1
    assert "p.json: a NumPy .npy file, not JSON (the authors' matching result?" in capsys.readouterr().err


# ---------------------------------------------------------------- tools/export_coco.py
def test_export_coco_loads_with_pycocotools(tiny_dataset, tmp_path):
    written = export(str(tiny_dataset["out"]), tmp_path / "coco", ["medium", "hard"])
    assert [p.name for p in written] == ["medium.json", "hard.json"]
    medium = load_dataset(str(tiny_dataset["out"]), "pairs", split="medium")
    coco = COCO(str(tmp_path / "coco" / "medium.json"))
    assert len(coco.getImgIds()) == 12 and coco.loadCats(coco.getCatIds())[0]["name"] == "target"
    positives = [r for r in medium if r["positive"]]
    assert len(coco.getAnnIds()) == len(positives)
    for ann, row in zip(coco.loadAnns(coco.getAnnIds()), positives):
        assert (ann["image_id"], ann["attributes"]["query_id"]) == (row["index_id"], row["query_id"])
        assert ann["attributes"]["difficulty"] == row["difficulty"]
        assert np.array_equal(coco.annToMask(ann), masks.decode(row["mask"]))
        image = coco.loadImgs(ann["image_id"])[0]
        assert (image["height"], image["width"]) == tuple(row["mask"]["size"])
    hard = json.loads((tmp_path / "coco" / "hard.json").read_text())
    assert {a["attributes"]["difficulty"] for a in hard["annotations"]} == {"hard"}
    assert len(hard["queries"]) == 4


def _coco_pairs(path) -> tuple[COCO, dict]:
    coco = COCO(str(path))
    return coco, {(a["attributes"]["query_id"], a["image_id"]): a for a in coco.loadAnns(coco.getAnnIds())}


def _tight_box(mask) -> list[float]:
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]


def test_export_coco_polygons_are_the_shapes_and_fill_as_the_masks(tiny_dataset, tmp_path, capsys):
    out = str(tiny_dataset["out"])
    assert main(["export-coco", "--dataset", out, "--output", str(tmp_path / "poly"), "--segmentation",
                 "polygons", "--protocols", "medium"]) == 0
    assert "wrote" in capsys.readouterr().out
    export(out, tmp_path / "rle", ["medium"])
    polygons, by_pair = _coco_pairs(tmp_path / "poly" / "medium.json")
    rle, rle_by_pair = _coco_pairs(tmp_path / "rle" / "medium.json")
    medium = load_dataset(out, "pairs", split="medium")
    labelled = [r for r in medium if r["positive"] and r["shapes"] is not None]
    assert len(by_pair) == len(labelled) == len(rle_by_pair)
    for row in labelled:  # the tiny release's polygons lie inside their image: the fill is the mask
        ann, exact = by_pair[row["query_id"], row["index_id"]], rle_by_pair[row["query_id"], row["index_id"]]
        assert ann["segmentation"] == [np.ravel(s["points"]).tolist() for s in row["shapes"]]
        assert np.array_equal(polygons.annToMask(ann), rle.annToMask(exact))
        assert (ann["area"], ann["bbox"]) == (exact["area"], exact["bbox"])
    assert main(["export-coco", "--dataset", out, "--output", str(tmp_path / "x"), "--segmentation", "lines"]) == 2


def test_export_coco_polygons_of_every_shape_type(tmp_path, generators):
    info = generators.write_shapes_release(tmp_path / "release")
    build("proxford", tmp_path / "release", tmp_path / "out")
    for segmentation in ("polygons", "rle"):  # the positive without a label is left out, and said so
        with pytest.warns(UserWarning, match="medium: 1 positive pairs have no mask and are not exported"):
            export(str(tmp_path / "out"), tmp_path / segmentation[:4], ["medium"], segmentation=segmentation)
    polygons, by_pair = _coco_pairs(tmp_path / "poly" / "medium.json")
    rle, rle_by_pair = _coco_pairs(tmp_path / "rle" / "medium.json")
    assert set(by_pair) == set(rle_by_pair) and info["unlabelled"] not in by_pair
    for pair, ann in by_pair.items():  # area and bbox are what annToMask gives, whatever the shapes
        mask = polygons.annToMask(ann)
        assert ann["area"] == int(mask.sum()) and ann["bbox"] == _tight_box(mask)
    gnd = info["gnd"]["gnd"]
    in_image = by_pair[0, gnd[0]["easy"][0]]["segmentation"]
    rectangle = [44.123456789012345678, 30.1, 60.987654321098765, 30.1, 60.987654321098765, 44.5,
                 44.123456789012345678, 44.5]
    circle = geometry.circle([20.5, 33.25], [26, 36]).ravel().tolist()
    assert in_image == [[12, 3, 40.25, 3, 40.25, 20.5, 12, 20.5], rectangle, circle, [2, 2, 8, 2, 5, 9.000000000000002],
                        [50, 2, 60, 4, 55.5, 12]]
    for q in (0, 1):  # shapes inside the image: the polygons fill as the exact mask
        pair = q, gnd[0]["easy"][0]
        assert np.array_equal(polygons.annToMask(by_pair[pair]), rle.annToMask(rle_by_pair[pair]))
    leaving = by_pair[2, gnd[2]["easy"][0]]["segmentation"]
    assert leaving[0] == [-5.5, 40, 123.456789012345678, 42.75, 20, 47.9]  # as released, not clipped
    assert leaving[1] == [-3, -2, 10.5, -2, 10.5, 6, -3, 6]


def _pairs_split(shapes_per_row: list) -> "datasets.Dataset":
    import datasets

    from pixret.rows import FEATURES

    empty = masks.encode(np.zeros((48, 64), np.uint8))
    return datasets.Dataset.from_list([
        {"query_id": 0, "index_id": 0, "query_name": "q", "index_name": "a", "difficulty": "easy", "positive": True,
         "mask": {"size": empty["size"], "counts": empty["counts"]}, "bbox": [0, 0, 0, 0], "shapes": shapes}
        for shapes in shapes_per_row], features=FEATURES["pairs"])


INDEX = {"index_id": [0], "name": ["a"], "width": [64], "height": [48]}
QUERIES = {"query_id": [0], "name": ["q"], "bbox": [[0.0, 0.0, 5.0, 5.0]]}


def test_export_coco_polygons_far_outside_and_bad_shapes():
    near = {"shape_type": None, "points": [[2, 2], [20, 2], [20, 12]]}
    far = {"shape_type": "polygon", "points": [[-500, 10], [30, 10], [30, 30]]}  # leaves by 8 image widths
    gone = {"shape_type": "polygon", "points": [[500, 10], [530, 10], [530, 30]]}  # wholly that far out
    with pytest.warns(UserWarning) as caught:
        document, unlabelled = coco_dict(_pairs_split([[near, far], [gone]]), INDEX, QUERIES, "medium", "polygons")
    messages = [str(w.message) for w in caught]
    assert "medium: 2 shapes reach farther than one image size outside their image" in messages[0]
    assert "medium: 1 labelled pairs have every shape farther than one image size outside" in messages[1]
    assert unlabelled == 0 and len(document["annotations"]) == 1
    kept = document["annotations"][0]["segmentation"]
    assert kept[0] == [2, 2, 20, 2, 20, 12] and min(kept[1][::2]) == -64  # clipped at one image width out
    for shapes, message in [
        ([{"shape_type": "line", "points": [[1, 1], [5, 5]]}], "medium row 0 .pair 0_0.: shape 0 is a 'line'"),
        ([near, {"shape_type": "rectangle", "points": [[1, 1], [5, 5], [6, 6]]}], "shape 1 is a rectangle of 3"),
        ([{"shape_type": None, "points": [[1, 1], [5, float("nan")], [6, 6]]}], "shape 0 points must be finite"),
        ([], "a labelled pair without shapes"),
    ]:
        with pytest.raises(DatasetError, match=message):
            coco_dict(_pairs_split([shapes]), INDEX, QUERIES, "medium", "polygons")
    with pytest.raises(DatasetError, match="segmentation='polygons' needs the pairs' shapes column"):
        coco_dict(_pairs_split([[near]]).remove_columns("shapes"), INDEX, QUERIES, "medium", "polygons")
    assert coco_dict(_pairs_split([[near]]).remove_columns("shapes"), INDEX, QUERIES, "medium")[0]["annotations"]


# ---------------------------------------------------------------- pixret show
def _colours(png):
    pixels = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3)
    return {name: int((pixels == colour).all(axis=1).sum()) for name, colour in
            (("pred", report.PREDICTION), ("tp", report.TRUE_POSITIVE), ("fp", report.FALSE_POSITIVE),
             ("junk", report.JUNK))}


def test_show_gallery_has_outlines(tiny_dataset, files, tmp_path, capsys):
    page = show(str(tiny_dataset["out"]), files["dir"] / "ranks.npy", tmp_path / "gallery", files["dir"] / "preds.json",
                top_k=5, name="gt")
    text = page.read_text()
    assert "<title>gt: top-5 per query (medium)</title>" in text
    pngs = sorted((tmp_path / "gallery").glob("gt_q*.png"))
    assert len(pngs) == 4 and all(p.name in text for p in pngs)
    for png in pngs:
        count = _colours(png)
        assert count["pred"] > 50  # predicted outlines drawn
        assert count["tp"] > 500 and count["fp"] > 500  # ground-truth hits and negatives among the top 5
    assert main(["show", "--dataset", str(tiny_dataset["out"]), "--ranks", str(files["dir"] / "ranks.npy"),
                 "--output", str(tmp_path / "g2"), "--queries", "7"]) == 1
    assert "--queries: unknown query ids [7]" in capsys.readouterr().err
    assert not (tmp_path / "g2").exists()


def test_show_without_predictions_shows_retrieval(tiny_dataset, files, tmp_path):
    page = show(str(tiny_dataset["out"]), files["dir"] / "ranks.npy", tmp_path / "gallery", top_k=12)
    assert "ranks: top-12" in page.read_text() and "retrieval only" in page.read_text()
    split = load_dataset(str(tiny_dataset["out"]), "pairs", split="medium")
    for q, png in enumerate(sorted((tmp_path / "gallery").glob("ranks_q*.png"))):
        count = _colours(png)
        positives = sum(1 for r in split if r["query_id"] == q and r["positive"])
        junk = sum(1 for r in split if r["query_id"] == q and not r["positive"])
        # every one of the 12 index images is shown: frames by retrieval status alone
        assert count["pred"] == 0 and count["tp"] > positives * 1000 and count["junk"] > junk * 1000
        assert count["fp"] > (12 - positives - junk) * 1000


# ---------------------------------------------------------------- pixret push (dry runs; uploads: test_hub.py)
def test_push_dry_run_validates_dataset_and_metric(tiny_dataset, built_wheel, capsys):
    assert main(["push", "dataset", str(tiny_dataset["out"]), "--repo-id", "pixret/proxford-demo", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would upload" in out and "pairs/medium-00000-of-00001.parquet" in out and "README.md" in out
    assert "config 'index' split 'test': 12 rows, as the card says" in out
    assert "links and images of the card resolve" in out and ".pixret-output.json" not in out and "not uploaded" not in out
    plan = plan_metric(METRIC_DIR, "pixret/pixret_map", wheel=built_wheel)
    assert plan.repo_type == "space"
    assert {p for p, _ in plan.files} == {"pixret_map.py", "README.md", "app.py", "requirements.txt", built_wheel.name}
    # the uploaded requirements name the wheel uploaded beside them (pixret is not on PyPI yet), the clone's do not
    pinned = plan.sources["requirements.txt"].read_text().splitlines()
    assert f"./{built_wheel.name}" in pinned and "pixret" not in pinned and plan.sources[built_wheel.name] == built_wheel
    assert (METRIC_DIR / "requirements.txt").read_text().splitlines()[-1] == "pixret"


def test_push_refuses_broken_folders(tiny_dataset, tmp_path, capsys):
    folder = tmp_path / "ds"
    shutil.copytree(tiny_dataset["out"], folder)
    assert main(["push", "dataset", str(folder), "--repo-id", "pixret/proxford", "--dry-run"]) == 1
    assert "not the benchmark (custom data): upload it to a repo whose name says demo" in capsys.readouterr().err
    (folder / "index" / "test-00000-of-00001.parquet").unlink()
    assert main(["push", "dataset", str(folder), "--repo-id", "x/y-demo", "--dry-run"]) == 1
    assert "config 'index' split 'test': no file matches" in capsys.readouterr().err
    (folder / "preview.jpg").unlink()
    with pytest.raises(ValidationError, match=r"links to files the repo would not have: \['preview.jpg'\]"):
        plan_dataset(folder, "x/y-demo")
    card = (folder / "README.md").read_text()
    (folder / "README.md").write_text(card.replace("dataset_info:", "dataset_information:")
                                      .replace("preview.jpg", "https://example.org/p.jpg"))
    with pytest.raises(ValidationError, match="lacks 'dataset_info'"):
        plan_dataset(folder, "x/y-demo")
    metric = tmp_path / "pixret_map"
    shutil.copytree(METRIC_DIR, metric)
    (metric / "app.py").unlink()
    with pytest.raises(ValidationError, match="app.py: missing"):
        plan_metric(metric, "x/y")


def test_push_checks_repo_id_and_token_before_uploading(tiny_dataset, capsys, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    args = ["push", "dataset", str(tiny_dataset["out"]), "--allow-synthetic"]
    assert main(args + ["--repo-id", "not a repo id"]) == 1
    captured = capsys.readouterr()
    assert "--repo-id 'not a repo id'" in captured.err and "uploading" not in captured.out
    assert main(args + ["--repo-id", "pixret/proxford-demo"]) == 1
    captured = capsys.readouterr()
    assert "no valid Hub token" in captured.err and "uploading" not in captured.out


def test_metric_card_has_the_standard_sections():
    text = (METRIC_DIR / "README.md").read_text()
    for section in ("## Metric Description", "## How to Use", "### Inputs", "### Output Values",
                    "### Values from Popular Papers", "## Examples", "## Limitations and Bias", "## Citation",
                    "## Further References", "## Common mistakes"):
        assert section in text
    assert "map_det" in text and "Table 2" in text
