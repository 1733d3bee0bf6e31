"""The generated world, the baselines, the visual report and the demo entry point."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image, ImageDraw

import evaluate
from datasets import load_dataset

from conftest import METRIC_DIR, load_tool
from pixret import baselines, report, world
from pixret.release import locate_release, load_ground_truth, load_pair2label, read_label, image_size

TINY = world.WorldConfig(seed=3, landmarks=2, views_per_landmark=6, background_images=3)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The demo at its default size and seed, run once for this module."""
    demo = load_tool("demo")
    return demo.run(tmp_path_factory.mktemp("demo"), report_queries=3, top_k=4)


def test_world_is_an_upstream_release(tmp_path):
    info = world.make_world(tmp_path / "release", TINY)
    release = locate_release(tmp_path / "release", "proxford")
    gt = load_ground_truth(release.gnd_path)
    assert gt.index_names == info["gnd"]["imlist"] and len(gt.query_names) == len(info["queries"])
    pair2label = load_pair2label(release.pair2label_path)
    assert set(pair2label) == {(q, i) for q in range(len(gt.query_names)) for i in gt.easy[q] + gt.hard[q]}
    for (q, i), rel in pair2label.items():
        label = read_label(release.root / rel)
        height, width = image_size(release.image_path(gt.index_names[i]))
        assert (label.height, label.width) == (height, width)
        for polygon in label.polygons:  # labels lie inside their image
            assert (polygon >= 0).all() and (polygon[:, 0] <= width).all() and (polygon[:, 1] <= height).all()
    for q, box in enumerate(gt.bbx):
        qh, qw = image_size(release.image_path(gt.query_names[q]))
        assert 0 <= box[0] < box[2] <= qw and 0 <= box[1] < box[3] <= qh


def test_world_is_deterministic(tmp_path):
    a = world.make_world(tmp_path / "a", TINY)
    b = world.make_world(tmp_path / "b", TINY)
    assert a["gnd"] == b["gnd"]
    name = a["gnd"]["imlist"][3]
    path = "revisitop/data/roxford5k/jpg/{}.jpg".format(name)
    assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes()
    c = world.make_world(tmp_path / "c", world.WorldConfig(seed=4, landmarks=2, views_per_landmark=6,
                                                           background_images=3))
    assert c["gnd"] != a["gnd"]


def test_difficulty_follows_the_applied_degradation(tmp_path):
    info = world.make_world(tmp_path / "release", world.WorldConfig(seed=1))
    views, queries = info["views"], info["queries"]
    unit = world.unit_scale(info["config"]["width"], info["config"]["height"])
    seen = {"easy": 0, "hard": 0, "junk": 0}
    for q, entry in enumerate(info["gnd"]["gnd"]):
        for kind in seen:
            for i in entry[kind]:
                view = views[i]
                assert view["landmark"] == queries[q]["landmark"]  # only views of the query's landmark
                strong = (view["perspective"] > world.HARD_PERSPECTIVE or view["scale"] < world.HARD_SCALE * unit
                          or view["occlusion"] > world.HARD_OCCLUSION or abs(view["gain"] - 1) > world.HARD_GAIN)
                visible, pixels = _visibility(view, queries[q]["region"], info["config"])
                if kind == "easy":
                    assert not strong and visible >= 0.75 - 0.02
                elif kind == "hard":
                    assert strong or visible < 0.75 + 0.02
                else:
                    assert visible < world.JUNK_VISIBLE + 0.02 or pixels < world.JUNK_AREA
                seen[kind] += 1
    assert seen["easy"] > 0 and seen["hard"] > 0
    # views of other landmarks and background images are never listed
    for q, entry in enumerate(info["gnd"]["gnd"]):
        listed = set(entry["easy"] + entry["hard"] + entry["junk"])
        others = {i for i, v in enumerate(views) if v["landmark"] != queries[q]["landmark"]}
        assert not listed & others


def _polygon(view, region):
    x1, y1, x2, y2 = region
    return world.apply(np.asarray(view["homography"]), [[x1, y1], [x2, y1], [x2, y2], [x1, y2]])


def _visibility(view, region, config):
    """(visible fraction of the region, its pixels inside the image)."""
    width, height = config["width"], config["height"]
    polygon = _polygon(view, region)
    inside = world.raster(world.clip_polygon(polygon, width, height), width, height)
    occluder = np.zeros((height, width), bool)
    if view["occluder"]:
        occluder_image = Image.new("1", (width, height))
        ImageDraw.Draw(occluder_image).rectangle(view["occluder"], fill=1)
        occluder = np.asarray(occluder_image, bool)
    return (inside & ~occluder).sum() / max(world.polygon_area(polygon), 1), int(inside.sum())


# ---------------------------------------------------------------- baselines and the demo
def test_baselines_order_on_the_demo_seed(demo_run):
    scores = demo_run["scores"]
    for protocol in ("medium", "hard"):
        oracle = scores["oracle"][protocol]
        assert oracle["miou_det"] == oracle["miou_seg"] == 1.0
        assert oracle["map_det"] == 1.0  # no ignored query in a 14-query world: the ceiling is 1
        whole = scores["whole image"][protocol]["miou_seg"]
        matcher = scores["matcher (Harris + RANSAC)"][protocol]["miou_seg"]
        assert whole < matcher < 1.0
    matcher = scores["matcher (Harris + RANSAC)"]
    assert matcher["medium"]["miou_seg"] - matcher["hard"]["miou_seg"] > 0.15  # the easy-vs-hard gap


def test_opencv_sift_baseline(demo_run):
    folder = demo_run["report"].replace("/report/index.html", "")
    queries = list(load_dataset(f"{folder}/dataset", "queries", split="test"))
    index = list(load_dataset(f"{folder}/dataset", "index", split="test"))
    splits = load_dataset(f"{folder}/dataset")
    sift = baselines.sift_matcher(queries, index)
    scores = load_tool("demo").score(evaluate.load(str(METRIC_DIR), "proxford"), sift, splits)
    for protocol in ("medium", "hard"):
        assert demo_run["scores"]["whole image"][protocol]["miou_seg"] < scores[protocol]["miou_seg"] < 1.0
    assert scores["medium"]["miou_seg"] - scores["hard"]["miou_seg"] > 0.15


def test_demo_writes_tables_and_json(demo_run, tmp_path):
    text = demo_run["tables"]
    assert "Table 1" in text and "Table 2" in text
    rows = [line for line in text.splitlines() if line.startswith("| oracle")]
    assert rows[0] == "| oracle | 100.0 | 100.0 | 100.0 | 100.0 |"
    out = json.loads(open(demo_run["report"].replace("report/index.html", "results.json")).read())
    assert out["scores"]["oracle"]["medium"]["miou_seg"] == 1.0
    assert out["world"]["positives_medium"] > 100


def test_demo_result_files_score_the_same_through_the_tool(demo_run, capsys):
    folder = demo_run["report"].replace("/report/index.html", "")
    args = ["--dataset", f"{folder}/dataset", "--predictions", f"{folder}/matcher/predictions.json",
            "--ranks", f"{folder}/matcher/ranks.npy", "--format", "json"]
    assert load_tool("evaluate").main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == demo_run["scores"]["matcher (Harris + RANSAC)"]


def test_visual_report_shows_outlines(demo_run):
    page = open(demo_run["report"]).read()
    files = re.findall(r'src="([^"]+\.png)"', page)
    assert len(files) == 4 * 3  # every baseline, three queries
    folder = demo_run["report"].rsplit("/", 1)[0]
    colours = {}
    for file in files:
        pixels = np.asarray(Image.open(f"{folder}/{file}").convert("RGB"))
        flat = pixels.reshape(-1, 3)
        colours[file] = {name: int((flat == np.array(colour)).all(axis=1).sum()) for name, colour in
                         (("pred", report.PREDICTION), ("gt", report.GROUND_TRUTH), ("tp", report.TRUE_POSITIVE),
                          ("fp", report.FALSE_POSITIVE))}
    oracle = [c for f, c in colours.items() if f.startswith("oracle")]
    # the oracle's prediction is the ground truth: drawn over it, its outline shows; frames are green
    assert all(c["pred"] > 100 and c["tp"] > 1000 and c["fp"] == 0 for c in oracle)
    whole = [c for f, c in colours.items() if f.startswith("whole_image")]
    assert all(c["gt"] > 100 and c["pred"] > 100 for c in whole)  # both outlines visible
    assert any(c["fp"] > 1000 for c in whole)  # whole-image masks are false positives (IoU <= 0.5)


def test_outline_is_the_mask_border():
    mask = np.zeros((20, 20), np.uint8)
    mask[5:15, 5:15] = 1
    ring = report.outline(mask, 2)
    assert ring.sum() == 100 - 36 and not ring[7:13, 7:13].any() and ring[5, 5:15].all()


def test_demo_entry_point_small(tmp_path, capsys):
    demo = load_tool("demo")
    assert demo.main(["--small", "--output", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "Table 1" in printed and "| oracle | 100.0 | 100.0" in printed
    assert (tmp_path / "out" / "tables.md").exists() and (tmp_path / "out" / "report" / "index.html").exists()
