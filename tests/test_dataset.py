"""Real builds of small upstream releases, loaded back with `datasets`."""

from __future__ import annotations

import json
import os
import pickle
import shutil

import numpy as np
import pytest

import pixret
from datasets import load_dataset
from huggingface_hub import DatasetCard
from PIL import Image, ImageDraw

from pixret import masks, synthetic
from pixret.build import build
from pixret.cli import main
from pixret.release import ReleaseError, load_ground_truth, load_pickle, protocol_lists
from pixret.rows import SHAPES
from proxford_prparis import ProxfordPrparis


@pytest.fixture
def built(tiny_dataset):
    return tiny_dataset


def test_pairs_splits_follow_revisitop_protocols(built):
    gnd = built["gnd"]
    pairs = load_dataset(str(built["out"]), "pairs")
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
    medium = load_dataset(str(built["out"]), "pairs", split="medium")
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


# ---------------------------------------------------------------- the shapes column: the labels as released
def _released(path) -> list[dict]:
    """A LabelMe file's shapes as the column must hold them: type as given (None if absent), points as floats."""
    return [{"shape_type": shape.get("shape_type"), "points": [[float(x), float(y)] for x, y in shape["points"]]}
            for shape in json.loads(path.read_text())["shapes"]]


@pytest.fixture(scope="module")
def shapes_build(tmp_path_factory, generators):
    """A build of a release with multi-shape labels: a rectangle, a circle, missing and null shape_type, whole
    numbers, 18-digit decimals, points outside the image; one positive without a label."""
    base = tmp_path_factory.mktemp("shapes")
    info = generators.write_shapes_release(base / "release")
    build("proxford", base / "release", base / "out")
    return {**info, "root": base / "release", "out": base / "out"}


def test_shapes_are_the_labels_as_released(shapes_build):
    root, labels = shapes_build["root"], shapes_build["labels"]
    seen = set()
    for protocol in ("easy", "medium", "hard"):
        for row in load_dataset(str(shapes_build["out"]), "pairs", split=protocol):
            pair = row["query_id"], row["index_id"]
            if row["difficulty"] == "junk" or pair == shapes_build["unlabelled"]:
                assert row["shapes"] is None and row["mask"] is None, pair
                continue
            expected = _released(root / labels[pair])
            assert row["shapes"] == expected, pair  # float == float: bit for bit
            assert all(type(v) is float for shape in row["shapes"] for point in shape["points"] for v in point)
            seen.add(labels[pair])
    assert {shapes_build["in_image"], shapes_build["leaving"]} <= seen
    medium = load_dataset(str(shapes_build["out"]), "pairs", split="medium")
    by_pair = {(r["query_id"], r["index_id"]): r["shapes"] for r in medium}
    i = shapes_build["gnd"]["gnd"][0]["easy"][0]
    in_image = by_pair[0, i]
    assert by_pair[1, i] == in_image  # queries of a group share the label file: each row has its copy
    assert [s["shape_type"] for s in in_image] == ["polygon", "rectangle", "circle", None, None]
    assert in_image[1]["points"][0][0] == float("44.123456789012345678") and in_image[0]["points"][0] == [12.0, 3.0]
    leaving = by_pair[2, shapes_build["gnd"]["gnd"][2]["easy"][0]]
    assert leaving[0]["points"][1][0] == float("123.456789012345678") == 123.45678901234568
    assert leaving[0]["points"][0] == [-5.5, 40.0] and leaving[1]["points"][0] == [-3.0, -2.0]  # not clipped
    assert medium.features["shapes"] == SHAPES


def test_shapes_column_in_parquet_and_local_reads(shapes_build):
    """float64 in the Parquet file (no float32 rounding); pixret.dataset reads the same column as load_dataset."""
    import pyarrow.parquet as pq

    from pixret.dataset import open_dataset

    shard = next((shapes_build["out"] / "pairs").glob("medium-*.parquet"))
    assert str(pq.read_schema(shard).field("shapes").type) == (
        "list<element: struct<shape_type: string, points: list<element: fixed_size_list<element: double>[2]>>>")
    local = open_dataset(str(shapes_build["out"])).split("medium")
    assert local["shapes"] == load_dataset(str(shapes_build["out"]), "pairs", split="medium")["shapes"]
    assert local.features["shapes"] == SHAPES


def test_masks_are_still_filled_by_shape_type(shapes_build):
    from pixret import geometry

    medium = load_dataset(str(shapes_build["out"]), "pairs", split="medium")
    i = shapes_build["gnd"]["gnd"][0]["easy"][0]
    row = next(r for r in medium if (r["query_id"], r["index_id"]) == (0, i))
    shapes = _released(shapes_build["root"] / shapes_build["in_image"])
    polygons = [geometry.rectangle(*s["points"]) if s["shape_type"] == "rectangle" else
                geometry.circle(*s["points"]) if s["shape_type"] == "circle" else np.array(s["points"])
                for s in shapes]
    assert masks.decode(row["mask"]).tolist() == masks.decode(geometry.rasterise(polygons, 48, 64)).tolist()
    assert masks.decode(row["mask"])[35:44, 46:59].all()  # the rectangle is a box, not its two corners


def test_builder_class_gives_the_shapes_of_the_build(shapes_build, tmp_path):
    builder = ProxfordPrparis(config_name="pairs", data_dir=str(shapes_build["root"]), benchmark="proxford",
                              cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    for split in ("easy", "medium", "hard"):
        built = load_dataset(str(shapes_build["out"]), "pairs", split=split)
        assert builder.as_dataset(split).data.table.equals(built.data.table)


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


def test_parquet_embeds_images_and_streams(release, tmp_path):
    build("proxford", release["root"], tmp_path / "out")
    moved = tmp_path / "elsewhere"
    shutil.copytree(tmp_path / "out", moved)
    shutil.rmtree(release["root"])  # no local path may be needed any more
    stream = load_dataset(str(moved), "index", split="test", streaming=True)
    rows = list(stream)
    assert [r["index_id"] for r in rows] == list(range(12))
    assert rows[3]["image"].size == (64, 48)
    pairs = next(iter(load_dataset(str(moved), "pairs", split="hard", streaming=True)))
    assert pairs["query_id"] == 0


def test_card_declares_configs_and_sizes(built):
    card = DatasetCard.load(built["out"] / "README.md")
    assert card.data.pretty_name == "custom data in the PROxford format"  # not revisitop's queries
    configs = {c["config_name"]: c for c in card.data.configs}
    assert set(configs) == {"pairs", "queries", "index", "preview"}
    assert configs["pairs"].get("default") is True
    assert {f["split"] for f in configs["pairs"]["data_files"]} == {"easy", "medium", "hard"}
    infos = {i["config_name"]: i for i in card.data.dataset_info}
    assert {s["name"]: s["num_examples"] for s in infos["index"]["splits"]} == {"test": 12}
    assert {s["name"]: s["num_examples"] for s in infos["pairs"]["splits"]} == {"easy": 24, "medium": 24, "hard": 24}
    for config, info in infos.items():  # true sizes: the Parquet files, and the Arrow bytes of the splits
        assert info["download_size"] == sum(p.stat().st_size for p in (built["out"] / config).glob("*.parquet"))
        assert info["dataset_size"] == sum(s["num_bytes"] for s in info["splits"]) > 0
    assert card.data.size_categories == ["n<1K"]  # 24 * 3 + 4 + 12 + 20 rows
    assert card.data.license == "other" and card.data.license_link == "LICENSE"
    license_text = (built["out"] / "LICENSE").read_text()
    assert license_text.startswith("PROxford: terms") and "Oxford Buildings" in license_text
    assert "Paris dataset" not in license_text  # its own benchmark's images only
    assert "instance-segmentation" in card.data.task_ids and "instance-segmentation" not in card.data.tags
    assert "not the PROxford benchmark" in card.text
    assert built["report"]["counts"]["labelled_pairs"] == 20


def test_card_body_is_for_dataset_users(built):
    text = (built["out"] / "README.md").read_text()
    body = text.split("\n---\n", 1)[1]
    for section in ("## Load", "## Configs and fields", "## Protocols and junk", "## Evaluate",
                    "## Reference numbers", "## Build provenance", "## License", "## Citation"):
        assert section in body
    assert "Quickstart" not in body and "pip install" not in body  # the project README stays the project's
    assert "| DELG | SSP | 37.3 | 34.6 | 36.6 | 29.9 |" in body  # Table 2, PROxford row as printed
    assert "| localization in retrieval | SIFT+SP | 10.5 | 3.9 | 7.1 | 2.4 |" in body  # Table 1
    assert "| `shapes` | list of `{shape_type: string, points: list of [x, y] float64}` |" in body
    assert "truncated to int and filled with OpenCV's `fillPoly`" in body and "--segmentation polygons" in body
    example = body.split("An example `pairs` row")[1].split("```python\n")[1].split("\n```")[0]
    assert '"shapes": [{"shape_type": "polygon", "points": [[' in example and "True" in example
    assert 'evaluate.load("pixret/pixret_map", "custom")' in body
    report = built["report"]
    for source in report["sources"]:  # provenance: every source with its SHA-256
        assert source["sha256"] in body and len(source["sha256"]) == 64
    assert f"pixret {pixret.__version__}" in body
    from pixret.publish import broken_links

    files = {p.relative_to(built["out"]).as_posix() for p in built["out"].rglob("*") if p.is_file()}
    assert not broken_links(text, files)
    assert "preview.jpg" in body and Image.open(built["out"] / "preview.jpg").size[0] > 400


def test_the_papers_print_erratum_is_said_where_its_cell_is():
    from pixret.card import _reference_numbers
    from pixret.metric.core.benchmarks import BENCHMARKS

    erratum = 'The paper prints "33." for D2R+Mobilenet-V2-SSD+VLAD, PRParis medium D'
    assert erratum in _reference_numbers(BENCHMARKS["prparis"], False)
    assert erratum not in _reference_numbers(BENCHMARKS["proxford"], False)
    assert erratum not in _reference_numbers(BENCHMARKS["prparis"], True)


def test_revisitop_layout_and_separate_images(tmp_path):
    root = tmp_path / "rel"
    synthetic.write_tiny_release(root, "prparis", layout="revisitop")
    images = tmp_path / "images"
    shutil.move(root / "data/datasets/rparis6k/jpg", images)
    with pytest.raises(ReleaseError, match="images folder not found"):
        build("prparis", root, tmp_path / "out")
    build("prparis", root, tmp_path / "out", images=[images])
    assert load_dataset(str(tmp_path / "out"), "index", split="test").num_rows == 12
    card = DatasetCard.load(tmp_path / "out" / "README.md")
    assert card.data.pretty_name == "custom data in the PRParis format"


def test_exif_orientation_sets_mask_size(tmp_path):
    root = tmp_path / "rel"
    synthetic.write_tiny_release(root)
    # index_002 stored landscape 64x48 but shown rotated (EXIF 6): displayed 48 wide, 64 high
    stored = np.zeros((48, 64, 3), np.uint8)
    stored[:, :8] = 255
    synthetic.write_jpeg(root, "proxford", "index_002", stored, orientation=6)
    gnd = load_ground_truth(root / "revisitop/data/roxford5k/gnd_roxford5k.pkl")
    for q in range(len(gnd.query_names)):
        if 2 in gnd.easy[q] + gnd.hard[q]:
            rel = f"labels/proxford/g{q // 2}/index_002.json"
            synthetic.write_label(root, rel, [[[1, 1], [40, 1], [40, 60], [1, 60]]], 64, 48)
    build("proxford", root, tmp_path / "out")
    index = load_dataset(str(tmp_path / "out"), "index", split="test")
    assert (index[2]["width"], index[2]["height"]) == (48, 64)
    assert index[2]["image"].size == (48, 64)  # datasets applies the orientation when decoding
    rows = [r for r in load_dataset(str(tmp_path / "out"), "pairs", split="medium") if r["index_id"] == 2]
    assert rows and all(r["mask"]["size"] == [64, 48] for r in rows)


# ---------------------------------------------------------------- bad input
def _no_output_left(tmp_path):
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def _label_of(release, q=0):
    i = release["gnd"]["gnd"][q]["easy"][0]
    return i, release["root"] / release["labels"][q, i]


@pytest.mark.parametrize("case, message", [
    ("missing_label", "json: cannot read \\(No such file or directory\\) \\(pair 0_"),  # not called invalid JSON
    ("unreadable_label", "not valid LabelMe JSON"),
    ("no_polygon", "label has no shape"),
    ("size_mismatch", "label is for a 99x77 image"),
    ("missing_jpeg", "1 of the 16 images the ground truth lists are missing or corrupt: index_.*jpg: not in "),
    ("corrupt_jpeg", "index_.*jpg: corrupt or unreadable JPEG .* \\[index image"),
    ("extra_label", "not an easy/hard positive of query 0"),
    ("crafted_pickle", "refusing to load global"),
])
def test_bad_release_fails_clearly_and_writes_nothing(release, tmp_path, case, message):
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
        build("proxford", release["root"], tmp_path / "out")
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


def test_crafted_npy_runs_no_code(release, tmp_path):
    path = release["root"] / "oxford_pair2labelpath.npy"
    header = path.read_bytes()
    # keep the genuine .npy header of an object array, replace the pickle payload
    import io
    stream = io.BytesIO(header)
    np.lib.format.read_magic(stream)
    np.lib.format.read_array_header_1_0(stream)
    path.write_bytes(header[: stream.tell()] + _evil_pickle(tmp_path / "pwned"))
    with pytest.raises(ReleaseError, match="oxford_pair2labelpath.npy: not a plain-data pickle"):
        build("proxford", release["root"], tmp_path / "out")
    assert not (tmp_path / "pwned").exists()
    _no_output_left(tmp_path)


def test_duplicate_keys_in_release_files(tmp_path):
    from pixret.release import ReleaseError, load_pair2label, read_label

    label = tmp_path / "a.json"
    label.write_text('{"shapes": [], "shapes": [{"points": [[1, 1], [5, 1], [5, 5]], "shape_type": "polygon"}]}')
    with pytest.raises(ReleaseError, match="an object has the key 'shapes' twice"):
        read_label(label)
    np.save(tmp_path / "oxford_pair2labelpath.npy", np.array({"0_2": "a.json", "00_2": "b.json"}, dtype=object),
            allow_pickle=True)
    with pytest.raises(ReleaseError, match=r"entry '00_2' names pair \(0, 2\) again"):
        load_pair2label(tmp_path / "oxford_pair2labelpath.npy")


def test_reported_not_failed_cases(release, tmp_path):
    gnd = release["gnd"]
    labels = dict(release["labels"])
    q, i = 1, gnd["gnd"][1]["hard"][0]
    del labels[q, i]  # a positive with no label entry
    junk = gnd["gnd"][0]["junk"][0]
    labels[0, junk] = labels[0, gnd["gnd"][0]["easy"][0]]  # a label for a junk image
    synthetic.write_pair2label(release["root"], "proxford", labels)
    i2, label = _label_of(release, q=2)
    label.write_text(json.dumps(synthetic.labelme([[[-5, -3], [70, 2], [30, 60]]], 48, 64)))  # outside the image
    report = build("proxford", release["root"], tmp_path / "out", ignore_extra_labels=True)
    assert report["unlabelled_positives"] == [{"query_id": 1, "index_id": i, "index_name": gnd["imlist"][i]}]
    assert report["ignored_label_entries"][0]["index_id"] == junk
    assert report["clipped"][0]["points"] == 3 and report["clipped"][0]["index_id"] == i2
    medium = load_dataset(str(tmp_path / "out"), "pairs", split="medium")
    row = next(r for r in medium if (r["query_id"], r["index_id"]) == (1, i))
    assert row["positive"] and row["mask"] is None  # kept, never dropped or invented
    clipped = next(r for r in medium if (r["query_id"], r["index_id"]) == (2, i2))
    assert clipped["mask"]["size"] == [48, 64] and masks.area(clipped["mask"]) > 0
    assert json.loads((tmp_path / "out/build_report.json").read_text())["counts"]["unlabelled_positives"] == 1


def test_cli_messages(release, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["build", "--benchmark", "proxford", "--data-dir", str(release["root"]), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "20/20 positive pairs labelled" in printed and "NOT the benchmark" in printed
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~_umask())  # not mkdtemp's 0700
    assert main(["build", "--benchmark", "proxford", "--data-dir", str(release["root"]), "--output", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    _, label = _label_of(release)
    label.unlink()
    args = ["build", "--benchmark", "proxford", "--labels", str(release["root"]), "--output", str(out), "--overwrite"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert str(label) in err and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert load_dataset(str(out), "pairs", split="medium").num_rows == 24  # the old output is untouched


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------- real revisitop ground truth
@pytest.mark.parametrize("bench_name, counts", [
    ("proxford", {"easy": (3029, 1356 + 2497), "medium": (5526, 1356), "hard": (2497, 1356 + 3029)}),
    ("prparis", {"easy": (6874, 7153 + 10350), "medium": (17224, 7153), "hard": (10350, 7153 + 6874)}),
])
def test_real_revisitop_ground_truth(tmp_path, shared_dir, bench_name, counts):
    name = {"proxford": "roxford5k", "prparis": "rparis6k"}[bench_name]
    gnd = load_pickle(shared_dir / f"data/revisitop/gnd_{name}.pkl")
    root = tmp_path / "rel"
    synthetic.write_gnd(root, bench_name, gnd)
    jpeg = synthetic.jpeg_bytes(np.full((24, 32, 3), 128, np.uint8))
    label = json.dumps(synthetic.labelme([[[2, 2], [20, 2], [20, 15]]], 24, 32))
    labels, positives = {}, set()
    for q, entry in enumerate(gnd["gnd"]):
        for i in list(entry["easy"]) + list(entry["hard"]):
            positives.add(i)
            labels[q, i] = f"labels/{gnd['imlist'][i]}.json"
    (root / "labels").mkdir()
    jpg = synthetic.gnd_dir(root, bench_name) / "jpg"
    jpg.mkdir()
    for i in sorted(positives):  # the same bytes for each: what is checked here is the structure
        (jpg / f"{gnd['imlist'][i]}.jpg").write_bytes(jpeg)
        (root / f"labels/{gnd['imlist'][i]}.json").write_text(label)
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


# ---------------------------------------------------------------- LabelMe as the tool writes it
def _shape(points, shape_type="polygon"):
    return {"label": "target", "points": points, "group_id": None, "shape_type": shape_type, "flags": {}}


def _rewrite(label, shapes, height=48, width=64, **extra):
    document = {"version": "5.2.1", "flags": {}, "shapes": shapes, "imagePath": "x.jpg", "imageData": None,
                "imageHeight": height, "imageWidth": width, **extra}
    label.write_text(json.dumps(document))


def test_labelme_shape_types(release, tmp_path):
    i, label = _label_of(release)
    _rewrite(label, [_shape([[2, 2], [20, 2], [20, 12]], None),  # null shape_type: LabelMe's polygon
                     _shape([[30, 5], [40, 15]], "rectangle"),
                     _shape([[50, 30], [50, 36]], "circle")])
    report = build("proxford", release["root"], tmp_path / "out")
    assert {f["shape"] for f in report["filled_shapes"]} == {"shape 1: rectangle", "shape 2: circle"}
    row = next(r for r in load_dataset(str(tmp_path / "out"), "pairs", split="medium")
               if (r["query_id"], r["index_id"]) == (0, i))
    mask = masks.decode(row["mask"]).astype(bool)
    assert mask[8:12, 32:38].all()  # inside the rectangle
    assert mask[30, 50] and abs(mask[24:37, 44:57].sum() - np.pi * 36) < 12  # a filled disc of radius 6
    assert not mask[30, 43] and not mask[45, 5]


@pytest.mark.parametrize("shapes, extra, message", [
    ([_shape([[2, 2], [20, 2]], "line")], {}, "shape 0 is a 'line'; only polygon, rectangle and circle"),
    ([_shape([[2, 2]], "point")], {}, "shape 0 is a 'point'"),
    (["not a shape"], {}, "shape 0 is not an object"),
    ([_shape([[2, 2], [20, 2], [None, 3]])], {}, "shape 0 has no list of \\[x, y\\] numbers as points"),
    ([_shape([["2", "2"], ["20", "2"], ["9", "3"]])], {}, "shape 0 has no list of \\[x, y\\] numbers"),
    ([_shape([[2, 2], [20, 2], [float("nan"), 3]])], {}, "shape 0 points must be finite"),
    ([_shape([[2, 2], [20, 2], [20, 9]])], {"imageHeight": float("inf")}, "imageHeight must be a positive whole"),
    ([_shape([[2, 2], [20, 2], [20, 9]])], {"imageHeight": "48px"}, "imageHeight must be a positive whole number"),
    ([_shape([[2, 2], [20, 2], [20, 9]])], {"imageWidth": 0}, "imageWidth must be a positive whole number"),
    ([_shape([[2, 2], [20, 2], [20, 9], [9, 9]], "rectangle")], {}, "shape 0 is a rectangle of 4 points"),
])
def test_malformed_labelme_names_file_and_pair(release, tmp_path, shapes, extra, message):
    _, label = _label_of(release)
    _rewrite(label, shapes, **extra)
    with pytest.raises(ReleaseError, match=message) as err:
        build("proxford", release["root"], tmp_path / "out")
    assert str(label) in str(err.value) and "pair 0_" in str(err.value)
    _no_output_left(tmp_path)


def test_label_paths_windows_separators_and_escapes(release, tmp_path):
    labels = {pair: rel.replace("/", "\\") for pair, rel in release["labels"].items()}
    synthetic.write_pair2label(release["root"], "proxford", labels)
    assert build("proxford", release["root"], tmp_path / "out")["counts"]["labelled_pairs"] == 20
    first = next(iter(labels))
    for escape in ("../outside.json", "/etc/passwd", "C:\\labels\\x.json"):
        synthetic.write_pair2label(release["root"], "proxford", {**labels, first: escape})
        with pytest.raises(ReleaseError, match="leaves the release folder"):
            build("proxford", release["root"], tmp_path / "out2")
