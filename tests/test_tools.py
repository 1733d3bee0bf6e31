"""tools/evaluate.py, export_coco.py, show.py and push.py on a real built dataset."""

from __future__ import annotations

import csv
import json
import shutil

import evaluate
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset
from PIL import Image
from pycocotools.coco import COCO

from conftest import METRIC_DIR, load_tool
from pixret import masks, report


@pytest.fixture(scope="module")
def tools():
    return {name: load_tool(name) for name in ("evaluate", "export_coco", "show", "push")}


def _gt_predictions(dataset_dir):
    """Ground-truth masks as a COCO-results list, for every labelled pair (once per pair)."""
    medium = load_dataset(str(dataset_dir), split="medium")
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


# ---------------------------------------------------------------- tools/evaluate.py
def test_evaluate_tool_equals_the_metric(tiny_dataset, files, tools, tmp_path, capsys):
    out = str(tiny_dataset["out"])
    args = ["--dataset", out, "--predictions", str(files["dir"] / "preds.json"), "--ranks",
            str(files["dir"] / "ranks.npy"), "--format", "json", "--per-query", str(tmp_path / "pq.csv")]
    assert tools["evaluate"].main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    metric = evaluate.load(str(METRIC_DIR), "proxford")
    by_pair = {(p["query_id"], p["index_id"]): p for p in files["preds"]}
    for protocol in ("medium", "hard"):
        split = load_dataset(out, split=protocol)
        preds = []
        for row in split:
            p = by_pair.get((row["query_id"], row["index_id"]))
            preds.append(None if p is None else {"mask": p.get("segmentation"), "bbox": p.get("bbox")})
        direct = metric.compute(predictions=preds, references=split, ranks=files["ranks"])
        assert printed[protocol] == {k: v for k, v in direct.items() if k != "per_query"}
    assert printed["medium"]["miou_seg"] is None  # a box-only entry: no segmentation figures
    assert 0 < printed["medium"]["miou_det"] < 1
    rows = list(csv.DictReader(open(tmp_path / "pq.csv")))
    assert len(rows) == 2 * 4 and rows[0]["protocol"] == "medium" and rows[0]["query_id"] == "0"
    assert float(rows[1]["miou_det"]) == pytest.approx(1.0)


def test_evaluate_tool_layouts_and_formats(tiny_dataset, files, tools, capsys):
    base = ["--dataset", str(tiny_dataset["out"]), "--predictions", str(files["dir"] / "preds.json")]
    assert tools["evaluate"].main(base + ["--ranks", str(files["dir"] / "ranks.npy"), "--format", "json"]) == 0
    ours = json.loads(capsys.readouterr().out)
    assert tools["evaluate"].main(base + ["--ranks", str(files["dir"] / "ranks_revisitop.npy"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == ours
    square = files["dir"] / "square.npy"
    np.save(square, files["ranks"][:, :4])  # (4, 4) with 4 queries: which axis is which?
    assert tools["evaluate"].main(base + ["--ranks", str(square)]) == 1
    assert "ambiguous" in capsys.readouterr().err
    assert tools["evaluate"].main(base + ["--ranks", str(square), "--ranks-layout", "queries-first"]) == 0
    capsys.readouterr()
    assert tools["evaluate"].main(base + ["--format", "markdown"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].startswith("| protocol | mIoU D | mIoU S")
    assert "| medium |" in text and "| hard |" in text
    assert tools["evaluate"].main(base) == 0
    assert "mIoU D" in capsys.readouterr().out.splitlines()[0]


def test_evaluate_tool_reads_parquet(tiny_dataset, files, tools, tmp_path, capsys):
    rows = _gt_predictions(tiny_dataset["out"])
    table = pa.Table.from_pylist([{"query_id": r["query_id"], "index_id": r["index_id"],
                                   "segmentation": r["segmentation"]} for r in rows])
    pq.write_table(table, tmp_path / "preds.parquet")
    assert tools["evaluate"].main(["--dataset", str(tiny_dataset["out"]), "--predictions",
                                   str(tmp_path / "preds.parquet"), "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["medium"]["miou_seg"] == result["hard"]["miou_seg"] == 1.0


@pytest.mark.parametrize("case, message", [
    ("unknown_query", "entry 2: unknown query_id 9"),
    ("unknown_index", "entry 2: unknown index_id 99"),
    ("size", "entry 2: mask size \\[10, 10\\] but index image"),
    ("duplicate", "entry 3: duplicate pair"),
    ("json", "not valid JSON"),
    ("not_list", "expected a JSON list"),
    ("polygon", "entry 2: segmentation must be a COCO RLE"),
])
def test_evaluate_tool_bad_files(tiny_dataset, files, tools, capsys, case, message):
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
    text = {"json": "[{", "not_list": "{}"}.get(case, json.dumps(preds))
    path.write_text(text)
    assert tools["evaluate"].main(["--dataset", str(tiny_dataset["out"]), "--predictions", str(path)]) == 1
    err = capsys.readouterr().err
    assert str(path) in err
    assert __import__("re").search(message, err), err


# ---------------------------------------------------------------- tools/export_coco.py
def test_export_coco_loads_with_pycocotools(tiny_dataset, tools, tmp_path):
    written = tools["export_coco"].export(str(tiny_dataset["out"]), tmp_path / "coco", ["medium", "hard"])
    assert [p.name for p in written] == ["medium.json", "hard.json"]
    medium = load_dataset(str(tiny_dataset["out"]), split="medium")
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


# ---------------------------------------------------------------- tools/show.py
def test_show_gallery_has_outlines(tiny_dataset, files, tools, tmp_path):
    page = tools["show"].show(str(tiny_dataset["out"]), files["dir"] / "ranks.npy", tmp_path / "gallery",
                              files["dir"] / "preds.json", top_k=5, name="gt")
    text = page.read_text()
    pngs = sorted((tmp_path / "gallery").glob("*.png"))
    assert len(pngs) == 4 and all(p.name in text for p in pngs)
    for png in pngs:
        pixels = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3)
        count = {name: int((pixels == colour).all(axis=1).sum()) for name, colour in
                 (("pred", report.PREDICTION), ("tp", report.TRUE_POSITIVE), ("fp", report.FALSE_POSITIVE))}
        assert count["pred"] > 50  # predicted outlines drawn
        assert count["tp"] > 500 and count["fp"] > 500  # ground-truth hits and negatives among the top 5
    assert tools["show"].main(["--dataset", str(tiny_dataset["out"]), "--ranks", str(files["dir"] / "ranks.npy"),
                               "--output", str(tmp_path / "g2"), "--queries", "7"]) == 1


# ---------------------------------------------------------------- tools/push.py
def test_push_dry_run_validates_dataset_and_metric(tiny_dataset, tools, capsys):
    assert tools["push"].main(["dataset", str(tiny_dataset["out"]), "--repo-id", "pixret/proxford", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would upload" in out and "pairs/medium-00000-of-00001.parquet" in out and "README.md" in out
    assert "load_dataset('index', split='test'): 12 rows" in out
    plan = tools["push"].plan_metric(METRIC_DIR, "pixret/pixret_map")
    assert plan.repo_type == "space"
    assert {"pixret_map.py", "README.md", "app.py", "requirements.txt"} <= {p for p, _ in plan.files}


def test_push_refuses_broken_folders(tiny_dataset, tools, tmp_path, capsys):
    folder = tmp_path / "ds"
    shutil.copytree(tiny_dataset["out"], folder)
    (folder / "index" / "test-00000-of-00001.parquet").unlink()
    assert tools["push"].main(["dataset", str(folder), "--repo-id", "x/y", "--dry-run"]) == 1
    assert "config 'index' split 'test': no file matches" in capsys.readouterr().err
    card = (folder / "README.md").read_text()
    (folder / "README.md").write_text(card.replace("dataset_info:", "dataset_information:"))
    with pytest.raises(tools["push"].ValidationError, match="lacks 'dataset_info'"):
        tools["push"].plan_dataset(folder, "x/y")
    metric = tmp_path / "pixret_map"
    shutil.copytree(METRIC_DIR, metric)
    (metric / "app.py").unlink()
    with pytest.raises(tools["push"].ValidationError, match="app.py: missing"):
        tools["push"].plan_metric(metric, "x/y")


def test_metric_card_has_the_standard_sections():
    text = (METRIC_DIR / "README.md").read_text()
    for section in ("## Metric Description", "## How to Use", "### Inputs", "### Output Values",
                    "### Values from Popular Papers", "## Examples", "## Limitations and Bias", "## Citation",
                    "## Further References"):
        assert section in text
    assert "map_det" in text and "Table 2" in text
