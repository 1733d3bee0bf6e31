"""The generated world, the baselines, the visual report and the demo entry point."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image, ImageDraw

from datasets import load_dataset

from pixret import baselines, report, world
from pixret.cli import main
from pixret.demo import score_baseline
from pixret.dataset import open_dataset
from pixret.release import load_ground_truth, load_pair2label, locate_release, read_label

IN_DEMO_GROUP = pytest.mark.xdist_group("demo")  # the tests of demo_run (conftest): one worker makes it once

TINY = world.WorldConfig(seed=3, landmarks=2, views_per_landmark=6, background_images=3)


def test_world_is_an_upstream_release(tmp_path):
    info = world.make_world(tmp_path / "release", TINY)
    release = locate_release("proxford", tmp_path / "release")
    gt = load_ground_truth(release.gnd_path)
    assert gt.index_names == info["gnd"]["imlist"] and len(gt.query_names) == len(info["queries"])
    pair2label = load_pair2label(release.pair2label_path)
    assert set(pair2label) == {(q, i) for q in range(len(gt.query_names)) for i in gt.easy[q] + gt.hard[q]}
    for (q, i), rel in pair2label.items():
        label = read_label(release.label_path(rel))
        height, width = release.images.size(gt.index_names[i])
        assert (label.height, label.width) == (height, width)
        for polygon in label.polygons:  # labels lie inside their image
            assert (polygon >= 0).all() and (polygon[:, 0] <= width).all() and (polygon[:, 1] <= height).all()
    for q, box in enumerate(gt.bbx):
        qh, qw = release.images.size(gt.query_names[q])
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
    """The spec of the world's docstring, checked with an independent rasterisation (PIL, not the world's)."""
    info = world.make_world(tmp_path / "release", world.WorldConfig(seed=1, landmarks=3, views_per_landmark=12,
                                                                    background_images=4))
    views, queries = info["views"], info["queries"]
    unit = world.unit_scale(info["config"]["width"], info["config"]["height"])
    seen = {"easy": 0, "hard": 0, "junk": 0}
    for q, entry in enumerate(info["gnd"]["gnd"]):
        for kind in seen:
            for i in entry[kind]:
                view = views[i]
                assert view["landmark"] == queries[q]["landmark"]  # only views of the query's landmark
                degraded = {"perspective": view["perspective"] > world.HARD_PERSPECTIVE,
                            "scale": view["scale"] < world.HARD_SCALE * unit,
                            "occlusion": view["occlusion"] > world.HARD_OCCLUSION,
                            "lighting": abs(view["gain"] - 1) > world.HARD_GAIN}
                visible, pixels = _visibility(view, queries[q]["region"], info["config"])
                if kind == "easy":
                    assert not any(degraded.values()) and visible >= 0.75 - 0.03, (q, i, degraded, visible)
                elif kind == "hard":
                    assert any(degraded.values()) or visible < 0.75 + 0.03, (q, i, visible)
                else:
                    assert visible < world.JUNK_VISIBLE + 0.03 or pixels < world.JUNK_AREA + 20, (q, i)
                seen[kind] += 1
    assert seen["easy"] > 0 and seen["hard"] > 0
    # views of other landmarks and background images are never listed
    for q, entry in enumerate(info["gnd"]["gnd"]):
        listed = set(entry["easy"] + entry["hard"] + entry["junk"])
        others = {i for i, v in enumerate(views) if v["landmark"] != queries[q]["landmark"]}
        assert not listed & others


def _visibility(view, region, config):
    """(visible fraction of the region's projected area, its pixels inside the image), drawn with PIL."""
    width, height = config["width"], config["height"]
    x1, y1, x2, y2 = region
    h = np.asarray(view["homography"])
    corners = np.c_[[[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.ones(4)] @ h.T
    polygon = corners[:, :2] / corners[:, 2:]
    drawn = Image.new("1", (width, height))
    ImageDraw.Draw(drawn).polygon([tuple(p) for p in polygon], fill=1)
    inside = np.asarray(drawn, bool)
    occluder = np.zeros((height, width), bool)
    if view["occluder"]:
        occluder_image = Image.new("1", (width, height))
        ImageDraw.Draw(occluder_image).rectangle(view["occluder"], fill=1)
        occluder = np.asarray(occluder_image, bool)
    x, y = polygon[:, 0], polygon[:, 1]
    area = abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2
    return (inside & ~occluder).sum() / max(area, 1), int(inside.sum())


# ---------------------------------------------------------------- baselines and the demo
@IN_DEMO_GROUP
def test_baselines_order(demo_run):
    """What holds for every world: the oracle is perfect, the matcher localises better than the whole image."""
    scores = demo_run["scores"]
    for protocol in ("medium", "hard"):
        oracle = scores["oracle"][protocol]
        assert oracle["miou_det"] == oracle["miou_seg"] == oracle["image_map"] == 1.0
        assert oracle["map_det"] == oracle["map_seg"] == 1.0  # custom data: no ignored query, the ceiling is 1
        whole = scores["whole image"][protocol]
        matcher = scores["matcher (Harris + RANSAC)"][protocol]
        assert whole["miou_seg"] < matcher["miou_seg"] < 1.0
        assert whole["miou_det"] < matcher["miou_det"] < 1.0


@IN_DEMO_GROUP
def test_opencv_sift_baseline(demo_run):
    data = open_dataset(demo_run["folder"] / "dataset")
    sift = baselines.sift_matcher(list(data.queries), list(data.index))
    scores = score_baseline(data.ground_truth(), sift).figures()
    for protocol in ("medium", "hard"):
        assert demo_run["scores"]["whole image"][protocol]["miou_seg"] < scores[protocol]["miou_seg"] < 1.0


@IN_DEMO_GROUP
def test_demo_writes_tables_and_json(demo_run):
    text = demo_run["tables"]
    assert "Table 1" in text and "Table 2" in text
    rows = [line for line in text.splitlines() if line.startswith("| oracle")]
    assert rows[0] == "| oracle | 100.0 | 100.0 | 100.0 | 100.0 |"
    out = json.loads((demo_run["folder"] / "results.json").read_text())
    assert out["scores"]["oracle"]["medium"]["miou_seg"] == 1.0
    medium = load_dataset(str(demo_run["folder"] / "dataset"), "pairs", split="medium")
    assert out["world"]["positives_medium"] == sum(medium["positive"]) > 10


@IN_DEMO_GROUP
def test_demo_labels_box_details_and_keep_the_polygon_mask(demo_run):
    """Some demo labels have several shapes, a rectangle among them (the shapes column is exercised); the mask
    stays the polygon's, so the demo's figures do not depend on them."""
    from pixret import geometry

    medium = load_dataset(str(demo_run["folder"] / "dataset"), "pairs", split="medium")
    labelled = [r for r in medium if r["shapes"] is not None]
    boxed = [r for r in labelled if len(r["shapes"]) > 1]
    assert boxed and len(boxed) < len(labelled)
    for row in boxed:
        polygon, box = row["shapes"]
        assert (polygon["shape_type"], box["shape_type"]) == ("polygon", "rectangle") and len(box["points"]) == 2
        assert row["mask"] == geometry.rasterise([np.array(polygon["points"])], *row["mask"]["size"])


@IN_DEMO_GROUP
def test_demo_dataset_card_says_synthetic(demo_run):
    text = (demo_run["folder"] / "dataset" / "README.md").read_text()
    title = next(line for line in text.split("\n---\n", 1)[1].splitlines() if line.startswith("# "))
    assert "synthetic demo" in title
    first = next(line for line in text.split(title, 1)[1].splitlines() if line.strip())
    assert first.startswith("**This is a synthetic demo**")
    assert "- synthetic" in text.split("\n---\n", 1)[0] and "license: mit" in text
    assert "| DELG | SSP | 37.3 | 34.6 | 36.6 | 29.9 |" in text  # the paper's tables, for reference
    assert "not results on this synthetic demo" in text
    # written from the world it describes: its queries, not the benchmark's 70; no erratum of the paper's print
    queries = demo_run["world"]["queries"]
    body = text.split("\n---\n", 1)[1]
    assert f"every positive image of the {queries} queries of its procedural facades" in body
    assert f"optional ({queries}, K) array" in body and not re.search(r"\b70\b(?!\.)", body)  # (70.3: a figure)
    assert '"33."' not in body
    assert "PRParis medium D" not in body and "of revisitop's" not in body
    from pixret.publish import broken_links

    folder = demo_run["folder"] / "dataset"
    assert not broken_links(text, {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()})


@IN_DEMO_GROUP
def test_demo_result_files_score_the_same_through_the_tool(demo_run, capsys):
    folder = demo_run["folder"]
    args = ["evaluate", "--dataset", str(folder / "dataset"), "--predictions", str(folder / "matcher/predictions.json"),
            "--ranks", str(folder / "matcher/ranks.npy"), "--format", "json"]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed.pop("unit") == "fraction" and printed.pop("notes") == []
    assert any("scored positive pairs have no prediction" in w for w in printed.pop("warnings"))
    assert printed == demo_run["scores"]["matcher (Harris + RANSAC)"]


@IN_DEMO_GROUP
def test_visual_report_shows_outlines(demo_run):
    page = (demo_run["folder"] / "report" / "index.html").read_text()
    files = re.findall(r'src="([^"]+_q\d{3}\.png)"', page)
    queries = demo_run["world"]["queries"]
    assert len(files) == 4 * queries and len(set(files)) == len(files)  # every baseline, every query
    figures = re.findall(r'src="([^"]+/map_vs_threshold\.png)"', page)
    assert len(figures) == 4 and all((demo_run["folder"] / "report" / f).stat().st_size > 10_000 for f in figures)
    colours = {}
    for file in files:
        pixels = np.asarray(Image.open(demo_run["folder"] / "report" / file).convert("RGB"))
        flat = pixels.reshape(-1, 3)
        colours[file] = {name: int((flat == np.array(colour)).all(axis=1).sum()) for name, colour in
                         (("pred", report.PREDICTION), ("gt", report.GROUND_TRUTH), ("tp", report.TRUE_POSITIVE),
                          ("fp", report.FALSE_POSITIVE))}
    oracle = [c for f, c in colours.items() if f.startswith("oracle")]
    # the oracle's prediction is the ground truth: drawn over it, its outline shows; frames are green
    assert all(c["pred"] > 100 and c["tp"] > 1000 for c in oracle)
    whole = [c for f, c in colours.items() if f.startswith("whole_image")]
    assert all(c["gt"] > 100 and c["pred"] > 100 for c in whole)  # both outlines visible
    assert any(c["fp"] > 1000 for c in whole)  # whole-image masks are false positives (IoU <= 0.5)


@IN_DEMO_GROUP
def test_report_page_has_the_tables_every_query_and_readable_plots(demo_run):
    """The figures' tables first; per baseline three queries shown and the others folded; each plot shown at its
    own pixel size, so its smallest text (8 pt at 100 dpi) is 11 px on the page."""
    from pixret.metric.views.plots import DPI

    page = (demo_run["folder"] / "report" / "index.html").read_text()
    assert page.index("<caption>Table 1: mean mIoU") < page.index("<caption>Table 2: pixel retrieval") < \
        page.index("<h2>")
    table = page[page.index("<caption>Table 1"):page.index("</table>")]
    assert "<th>medium mIoU D</th>" in table and "<td>oracle</td><td class=num>100.0</td>" in table
    queries = demo_run["world"]["queries"]
    assert page.count(f"<details><summary>the other {queries - 3} queries</summary>") == 4
    plots = re.findall(r'<a href="([^"]+\.png)"><img src="[^"]+" (width="\d+" height="\d+")', page)
    assert len(plots) == 4 * 3  # every baseline's three plots
    for name, tag in plots:
        with Image.open(demo_run["folder"] / "report" / name) as picture:
            assert tag == f'width="{picture.width}" height="{picture.height}"'  # never shrunk by the page itself
    assert "max-width:32%" not in page and 8 * DPI / 72 >= 11


def test_outline_is_the_mask_border():
    mask = np.zeros((20, 20), np.uint8)
    mask[5:15, 5:15] = 1
    ring = report.outline(mask, 2)
    assert ring.sum() == 100 - 36 and not ring[7:13, 7:13].any() and ring[5, 5:15].all()


@IN_DEMO_GROUP
def test_demo_prints_tables_and_keeps_foreign_folders(demo_run, tmp_path, capsys):
    assert "Table 1" in demo_run["printed"] and "| oracle | 100.0 | 100.0" in demo_run["printed"]
    assert (demo_run["folder"] / "report" / "index.html").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert main(["demo", "--small", "--output", str(tmp_path / "mine")]) == 1
    assert "is not an earlier `pixret demo` output" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"

