"""Real builds of small upstream releases, loaded back with `datasets`."""

from __future__ import annotations

import json
import os
import pickle
import shutil

import numpy as np
import pytest
from datasets import load_dataset
from huggingface_hub import DatasetCard
from PIL import Image, ImageDraw

from conftest import SHARED, write_tiny_release
from pixret import masks, synthetic
from pixret.release import ReleaseError, load_ground_truth, load_pickle, protocol_lists
from proxford_prparis import ProxfordPrparis


@pytest.fixture
def built(release, build_tool, tmp_path):
    out = tmp_path / "out"
    report = build_tool.build("proxford", release["root"], out)
    return {**release, "out": out, "report": report}


def test_pairs_splits_follow_revisitop_protocols(built):
    gnd = built["gnd"]
    pairs = load_dataset(str(built["out"]))
    assert set(pairs) == {"easy", "medium", "hard"}
    for protocol, split in pairs.items():
        expected = []
        for q, entry in enumerate(gnd["gnd"]):
            positives, junk = {"easy": (entry["easy"], entry["hard"] + entry["junk"]),
                               "medium": (entry["easy"] + entry["hard"], entry["junk"]),
                               "hard": (entry["hard"], entry["easy"] + entry["junk"])}[protocol]
            expected += [(q, i, i in positives) for i in sorted(positives + junk)]
        assert [(r["query_id"], r["index_id"], r["positive"]) for r in split] == expected
        for row in split:
            entry = gnd["gnd"][row["query_id"]]
            kind = next(k for k in ("easy", "hard", "junk") if row["index_id"] in entry[k])
            assert row["difficulty"] == kind
            assert row["query_name"] == gnd["qimlist"][row["query_id"]]
            assert row["index_name"] == gnd["imlist"][row["index_id"]]
            assert (row["mask"] is None) == (kind == "junk")
            assert (row["bbox"] is None) == (kind == "junk")
    features = pairs["medium"].features
    assert features["query_id"].dtype == "int32" and features["positive"].dtype == "bool"
    assert features["mask"]["size"].feature.dtype == "int32"


def test_masks_match_the_label_polygons(built):
    medium = load_dataset(str(built["out"]), split="medium")
    checked = 0
    for row in medium:
        if row["mask"] is None:
            continue
        label = json.loads((built["root"] / built["labels"][row["query_id"], row["index_id"]]).read_text())
        height, width = label["imageHeight"], label["imageWidth"]
        assert row["mask"]["size"] == [height, width]
        # independent rasterisation of the polygon union with PIL: the two may
        # differ only along the outlines (at most about one pixel per unit of perimeter)
        drawn = Image.new("1", (width, height))
        perimeter = 0.0
        for shape in label["shapes"]:
            points = np.asarray(shape["points"])
            ImageDraw.Draw(drawn).polygon([tuple(p) for p in points], fill=1)
            perimeter += np.linalg.norm(points - np.roll(points, 1, axis=0), axis=1).sum() + 4 * len(points)
        expected = np.asarray(drawn, dtype=bool)
        decoded = masks.decode(row["mask"]).astype(bool)
        assert (decoded ^ expected).sum() <= perimeter, (row["query_id"], row["index_id"])
        assert (decoded & expected).sum() > 0.5 * expected.sum()
        ys, xs = np.nonzero(decoded)
        assert row["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
        checked += 1
    assert checked == sum(len(e["easy"]) + len(e["hard"]) for e in built["gnd"]["gnd"])


def test_queries_and_index_tables(built):
    gnd = built["gnd"]
    queries = load_dataset(str(built["out"]), "queries", split="test")
    assert queries["query_id"] == list(range(len(gnd["qimlist"])))
    assert queries["name"] == gnd["qimlist"]
    for row, entry in zip(queries, gnd["gnd"]):
        x1, y1, x2, y2 = entry["bbx"]
        assert row["bbox"] == pytest.approx([x1, y1, x2 - x1, y2 - y1], abs=1e-4)
        assert (row["easy"], row["hard"], row["junk"]) == (entry["easy"], entry["hard"], entry["junk"])
        assert row["image"].size == (64, 48)
    index = load_dataset(str(built["out"]), "index", split="test")
    assert index["index_id"] == list(range(len(gnd["imlist"])))
    assert index["name"] == gnd["imlist"]
    first = index[0]
    original = Image.open(built["root"] / "revisitop/data/roxford5k/jpg/index_000.jpg")
    assert np.array_equal(np.asarray(first["image"]), np.asarray(original))
    assert (first["width"], first["height"]) == (64, 48)


def test_parquet_embeds_images_and_streams(built, tmp_path):
    moved = tmp_path / "elsewhere"
    shutil.copytree(built["out"], moved)
    shutil.rmtree(built["root"])  # no local path may be needed any more
    stream = load_dataset(str(moved), "index", split="test", streaming=True)
    rows = list(stream)
    assert [r["index_id"] for r in rows] == list(range(12))
    assert rows[3]["image"].size == (64, 48)
    pairs = next(iter(load_dataset(str(moved), split="hard", streaming=True)))
    assert pairs["query_id"] == 0


def test_card_declares_configs_and_sizes(built):
    card = DatasetCard.load(built["out"] / "README.md")
    assert card.data.pretty_name == "PROxford"
    configs = {c["config_name"]: c for c in card.data.configs}
    assert set(configs) == {"pairs", "queries", "index"}
    assert configs["pairs"].get("default") is True
    assert {f["split"] for f in configs["pairs"]["data_files"]} == {"easy", "medium", "hard"}
    infos = {i["config_name"]: i for i in card.data.dataset_info}
    assert {s["name"]: s["num_examples"] for s in infos["index"]["splits"]} == {"test": 12}
    assert {s["name"]: s["num_examples"] for s in infos["pairs"]["splits"]} == {"easy": 24, "medium": 24, "hard": 24}
    assert "pixel retrieval" in card.text.lower()
    assert built["report"]["counts"]["labelled_pairs"] == 20


def test_revisitop_layout_and_separate_images(tmp_path, build_tool):
    root = tmp_path / "rel"
    write_tiny_release(root, "prparis", layout="revisitop")
    images = tmp_path / "images"
    shutil.move(root / "data/datasets/rparis6k/jpg", images)
    with pytest.raises(ReleaseError, match="images folder not found"):
        build_tool.build("prparis", root, tmp_path / "out")
    build_tool.build("prparis", root, tmp_path / "out", images_dir=images)
    assert load_dataset(str(tmp_path / "out"), "index", split="test").num_rows == 12
    card = DatasetCard.load(tmp_path / "out" / "README.md")
    assert card.data.pretty_name == "PRParis"


def test_exif_orientation_sets_mask_size(tmp_path, build_tool):
    root = tmp_path / "rel"
    write_tiny_release(root)
    # index_002 stored landscape 64x48 but shown rotated (EXIF 6): displayed 48 wide, 64 high
    stored = np.zeros((48, 64, 3), np.uint8)
    stored[:, :8] = 255
    synthetic.write_jpeg(root, "proxford", "index_002", stored, orientation=6)
    gnd = load_ground_truth(root / "revisitop/data/roxford5k/gnd_roxford5k.pkl")
    for q in range(len(gnd.query_names)):
        if 2 in gnd.easy[q] + gnd.hard[q]:
            rel = f"labels/proxford/g{q // 2}/index_002.json"
            synthetic.write_label(root, rel, [[[1, 1], [40, 1], [40, 60], [1, 60]]], 64, 48)
    build_tool.build("proxford", root, tmp_path / "out")
    index = load_dataset(str(tmp_path / "out"), "index", split="test")
    assert (index[2]["width"], index[2]["height"]) == (48, 64)
    assert index[2]["image"].size == (48, 64)  # datasets applies the orientation when decoding
    rows = [r for r in load_dataset(str(tmp_path / "out"), split="medium") if r["index_id"] == 2]
    assert rows and all(r["mask"]["size"] == [64, 48] for r in rows)


# ---------------------------------------------------------------- bad input
def _no_output_left(tmp_path):
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def _label_of(release, q=0):
    i = release["gnd"]["gnd"][q]["easy"][0]
    return i, release["root"] / release["labels"][q, i]


@pytest.mark.parametrize("case, message", [
    ("missing_label", "cannot read"),
    ("unreadable_label", "not valid LabelMe JSON"),
    ("no_polygon", "label has no polygon"),
    ("size_mismatch", "label is for a 99x77 image"),
    ("missing_jpeg", "index_.*jpg: cannot read"),
    ("corrupt_jpeg", "corrupt or unreadable JPEG"),
    ("extra_label", "not an easy/hard positive of query 0"),
    ("crafted_pickle", "refusing to load global"),
])
def test_bad_release_fails_clearly_and_writes_nothing(release, build_tool, tmp_path, case, message):
    i, label = _label_of(release)
    jpg = release["root"] / "revisitop/data/roxford5k/jpg" / f"{release['gnd']['imlist'][i]}.jpg"
    if case == "missing_label":
        label.unlink()
    elif case == "unreadable_label":
        label.write_text("{not json")
    elif case == "no_polygon":
        label.write_text(json.dumps(synthetic.labelme([], 48, 64)))
    elif case == "size_mismatch":
        label.write_text(json.dumps(synthetic.labelme([[[1, 1], [5, 1], [5, 5]]], 77, 99)))
    elif case == "missing_jpeg":
        jpg.unlink()
    elif case == "corrupt_jpeg":
        jpg.write_bytes(jpg.read_bytes()[: len(jpg.read_bytes()) // 2])
    elif case == "extra_label":
        junk = release["gnd"]["gnd"][0]["junk"][0]
        synthetic.write_pair2label(release["root"], "proxford", {**release["labels"], (0, junk): release["labels"][0, i]})
    elif case == "crafted_pickle":
        (release["root"] / "revisitop/data/roxford5k/gnd_roxford5k.pkl").write_bytes(_evil_pickle(tmp_path / "pwned"))
    with pytest.raises(ReleaseError, match=message) as err:
        build_tool.build("proxford", release["root"], tmp_path / "out")
    if case in ("missing_label", "unreadable_label", "no_polygon", "size_mismatch"):
        assert str(label) in str(err.value) and "pair 0_" in str(err.value)
    _no_output_left(tmp_path)
    assert not (tmp_path / "pwned").exists()


class _Evil:
    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def _evil_pickle(target) -> bytes:
    return pickle.dumps({"gnd": [], "imlist": [], "qimlist": [], "x": _Evil(target)}, protocol=3)


def test_crafted_npy_runs_no_code(release, build_tool, tmp_path):
    path = release["root"] / "oxford_pair2labelpath.npy"
    header = path.read_bytes()
    # keep the genuine .npy header of an object array, replace the pickle payload
    import io
    stream = io.BytesIO(header)
    np.lib.format.read_magic(stream)
    np.lib.format.read_array_header_1_0(stream)
    path.write_bytes(header[: stream.tell()] + _evil_pickle(tmp_path / "pwned"))
    with pytest.raises(ReleaseError, match="oxford_pair2labelpath.npy: not a plain-data pickle"):
        build_tool.build("proxford", release["root"], tmp_path / "out")
    assert not (tmp_path / "pwned").exists()
    _no_output_left(tmp_path)


def test_reported_not_failed_cases(release, build_tool, tmp_path):
    gnd = release["gnd"]
    labels = dict(release["labels"])
    q, i = 1, gnd["gnd"][1]["hard"][0]
    del labels[q, i]  # a positive with no label entry
    junk = gnd["gnd"][0]["junk"][0]
    labels[0, junk] = labels[0, gnd["gnd"][0]["easy"][0]]  # a label for a junk image
    synthetic.write_pair2label(release["root"], "proxford", labels)
    i2, label = _label_of(release, q=2)
    label.write_text(json.dumps(synthetic.labelme([[[-5, -3], [70, 2], [30, 60]]], 48, 64)))  # outside the image
    report = build_tool.build("proxford", release["root"], tmp_path / "out", ignore_extra_labels=True)
    assert report["unlabelled_positives"] == [{"query_id": 1, "index_id": i, "index_name": gnd["imlist"][i]}]
    assert report["ignored_label_entries"][0]["index_id"] == junk
    assert report["clipped"][0]["points"] == 3 and report["clipped"][0]["index_id"] == i2
    medium = load_dataset(str(tmp_path / "out"), split="medium")
    row = next(r for r in medium if (r["query_id"], r["index_id"]) == (1, i))
    assert row["positive"] and row["mask"] is None  # kept, never dropped or invented
    clipped = next(r for r in medium if (r["query_id"], r["index_id"]) == (2, i2))
    assert clipped["mask"]["size"] == [48, 64] and masks.area(clipped["mask"]) > 0
    assert json.loads((tmp_path / "out/build_report.json").read_text())["counts"]["unlabelled_positives"] == 1


def test_cli_messages(release, build_tool, tmp_path, capsys):
    out = tmp_path / "out"
    assert build_tool.main(["--benchmark", "proxford", "--data-dir", str(release["root"]), "--output", str(out)]) == 0
    assert "20/20 positive pairs labelled" in capsys.readouterr().out
    assert build_tool.main(["--benchmark", "proxford", "--data-dir", str(release["root"]), "--output", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    _, label = _label_of(release)
    label.unlink()
    args = ["--benchmark", "proxford", "--data-dir", str(release["root"]), "--output", str(out), "--overwrite"]
    assert build_tool.main(args) == 1
    assert str(label) in capsys.readouterr().err
    assert load_dataset(str(out), split="medium").num_rows == 24  # the old output is untouched


# ---------------------------------------------------------------- real revisitop ground truth
@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data/revisitop (present in CI)")
@pytest.mark.parametrize("bench_name, counts", [
    ("proxford", {"easy": (3029, 1356 + 2497), "medium": (5526, 1356), "hard": (2497, 1356 + 3029)}),
    ("prparis", {"easy": (6874, 7153 + 10350), "medium": (17224, 7153), "hard": (10350, 7153 + 6874)}),
])
def test_real_revisitop_ground_truth(tmp_path, bench_name, counts):
    name = {"proxford": "roxford5k", "prparis": "rparis6k"}[bench_name]
    gnd = load_pickle(SHARED / f"gnd_{name}.pkl")
    root = tmp_path / "rel"
    synthetic.write_gnd(root, bench_name, gnd)
    pixels = np.full((24, 32, 3), 128, np.uint8)
    labels, positives = {}, set()
    for q, entry in enumerate(gnd["gnd"]):
        for i in list(entry["easy"]) + list(entry["hard"]):
            positives.add(i)
            labels[q, i] = f"labels/{gnd['imlist'][i]}.json"
    for i in sorted(positives):
        synthetic.write_jpeg(root, bench_name, gnd["imlist"][i], pixels)
        synthetic.write_label(root, f"labels/{gnd['imlist'][i]}.json", [[[2, 2], [20, 2], [20, 15]]], 24, 32)
    synthetic.write_pair2label(root, bench_name, labels)
    builder = ProxfordPrparis(config_name="pairs", data_dir=str(root), benchmark=bench_name,
                              cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    for protocol, (num_positive, num_junk) in counts.items():
        split = builder.as_dataset(protocol)
        positive = np.asarray(split["positive"])
        assert (positive.sum(), (~positive).sum()) == (num_positive, num_junk)
    assert builder.report["counts"]["positive_pairs"] == len(labels)
    gt = load_ground_truth(root / f"revisitop/data/{name}/gnd_{name}.pkl")
    assert len(gt.query_names) == 70 and protocol_lists(gt, "medium", 0)[1] == sorted(gnd["gnd"][0]["junk"])
