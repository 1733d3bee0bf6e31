"""The build without side channels: rows from plain functions, Parquet written by the build itself, the
builder class over the same rows; the release read as it is (polygons leaving the image, label names,
image file names); a full disk."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import time

import numpy as np
from pycocotools import mask as cocomask
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset
from huggingface_hub import DatasetCard

from pixret import geometry, masks, rows, synthetic
from pixret.build import build
from pixret.cli import main
from pixret.release import ReleaseError
from proxford_prparis import ProxfordPrparis


# ---------------------------------------------------------------- the build and the builder class
def test_builder_class_gives_the_rows_of_the_build(release, tmp_path):
    report = build("proxford", release["root"], tmp_path / "out")
    for config, splits in rows.SPLITS.items():
        builder = ProxfordPrparis(config_name=config, data_dir=str(release["root"]), benchmark="proxford",
                                  cache_dir=str(tmp_path / "cache"))
        builder.download_and_prepare()
        for split in splits:
            built = load_dataset(str(tmp_path / "out"), config, split=split)
            prepared = builder.as_dataset(split)
            assert prepared.features == built.features == rows.FEATURES[config]
            assert prepared.data.table.equals(built.data.table), (config, split)  # image bytes included
            assert prepared.num_rows > 0
        if config == "pairs":
            assert builder.report["counts"] == {k: v for k, v in report["counts"].items()
                                                if k not in ("positives_medium", "rows_medium")}
            assert report["counts"]["rows_medium"] == builder.as_dataset("medium").num_rows == 24


def test_shards_are_named_and_cut_at_the_max_shard_size(tmp_path):
    root = tmp_path / "release"
    gnd = synthetic.tiny_gnd(num_index=250)
    synthetic.write_tiny_release(root, gnd=gnd)
    build("proxford", root, tmp_path / "out", max_shard_size="20KB")  # 100 images (~3 KB each) per Arrow table
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "index").iterdir()) == [f"test-0000{k}-of-00003.parquet" for k in range(3)]
    assert sorted(p.name for p in (out / "pairs").iterdir()) == [f"{s}-00000-of-00001.parquet"
                                                                 for s in ("easy", "hard", "medium")]
    assert [pq.ParquetFile(p).metadata.num_rows for p in sorted((out / "index").iterdir())] == [100, 100, 50]
    index = load_dataset(str(out), "index", split="test")
    assert index["index_id"] == list(range(250)) and index["name"] == gnd["imlist"]
    for config in rows.FEATURES:  # the features in the schema metadata, as load_dataset reads them
        for shard in (out / config).iterdir():
            stored = json.loads(pq.read_schema(shard).metadata[b"huggingface"])
            assert stored == {"info": {"features": rows.FEATURES[config].to_dict()}}
    infos = {i["config_name"]: i for i in DatasetCard.load(out / "README.md").data.dataset_info}
    assert infos["index"]["splits"] == [{"name": "test", "num_bytes": index.data.nbytes, "num_examples": 250}]
    assert infos["index"]["download_size"] == sum(p.stat().st_size for p in (out / "index").iterdir())
    assert {s["name"]: s["num_examples"] for s in infos["pairs"]["splits"]} == {"easy": 24, "medium": 24, "hard": 24}


def test_num_proc_sets_the_checking_threads_and_changes_nothing_written(release, tiny_dataset, tmp_path, capsys):
    from pixret.release import locate_release

    assert locate_release("proxford", release["root"], workers=1).images.workers == 1
    assert main(["build", "--benchmark", "proxford", "--data-dir", str(release["root"]), "--output",
                 str(tmp_path / "out"), "--num-proc", "1"]) == 0
    for shard in sorted(tiny_dataset["out"].glob("*/*.parquet")):  # the same release (seed 0), byte for byte
        assert (tmp_path / "out" / shard.relative_to(tiny_dataset["out"])).read_bytes() == shard.read_bytes()



@pytest.mark.parametrize("num_proc", [1, 2])
def test_a_bad_label_found_while_the_images_are_written_leaves_nothing(release, tmp_path, num_proc):
    """With threads, the index config is written while the labels are read: a label error stops it, and the
    staged output is removed once it has stopped (nothing beside the output either)."""
    q = len(release["gnd"]["gnd"]) - 1  # the last pair read: the images' config has begun by then
    _, label = _label_of(release, q)
    label.write_text(json.dumps(synthetic.labelme([[[2, 2], [20, 2], [20, 12]]], H + 1, W)))
    with pytest.raises(ReleaseError, match=f"{label}.*label is for a {W}x{H + 1} image, the image is {W}x{H}"):
        build("proxford", release["root"], tmp_path / "built" / "out", num_proc=num_proc)
    assert not (tmp_path / "built").exists()


# ---------------------------------------------------------------- polygons leaving the image
H, W = 48, 64
TRIANGLE = np.array([[-5, -3], [70, 2], [30, 60]], float)  # leaves left, top, right and bottom
ARROW = np.array([[10, 10], [30, 10], [30, 0], [50, 20], [30, 40], [30, 30], [10, 30]], float)  # not convex


def _exact(polygon):
    """Exact clipping: the polygon cut to the image geometrically, then rasterised."""
    clipped = geometry.clip_polygon(polygon, W, H)
    return masks.decode(geometry.rasterise([clipped] if len(clipped) >= 3 else [], H, W)).astype(bool)


def _near_edges(polygon, ys, xs, distance=1.0):
    """Whether each pixel (centre at x + 0.5, y + 0.5) lies within ``distance`` of the polygon's outline."""
    points = np.stack([xs + 0.5, ys + 0.5], 1)[:, None]
    a, b = polygon[None], np.roll(polygon, -1, 0)[None]
    t = np.clip(((points - a) * (b - a)).sum(-1) / ((b - a) ** 2).sum(-1), 0, 1)[..., None]
    return (np.linalg.norm(points - (a + t * (b - a)), axis=-1) <= distance).any(1)


def _cases():
    shifts = {"left": (-20, 0), "right": (40, 0), "top": (0, -15), "bottom": (0, 30), "top-left": (-20, -15),
              "bottom-right": (40, 30)}
    triangle = np.array([[5, 5], [35, 10], [15, 35]], float)
    for side, shift in shifts.items():
        yield f"triangle {side}", triangle + shift
        yield f"arrow {side}", ARROW + shift
    yield "triangle every side", TRIANGLE
    yield "arrow far out", ARROW * [1, 1] + [[-1e6, 0], [0, 0], [0, 0], [0, 0], [0, 0], [0, 0], [0, 0]]


@pytest.mark.parametrize("case, polygon", list(_cases()), ids=[name for name, _ in _cases()])
def test_polygon_leaving_the_image_is_cut_like_exact_clipping(case, polygon):
    exact = _exact(polygon)
    cut = masks.decode(geometry.rasterise([polygon], H, W)).astype(bool)
    assert exact.any() and cut.sum() >= 0.97 * exact.sum()
    ys, xs = np.nonzero(cut ^ exact)
    assert _near_edges(polygon, ys, xs).all(), f"{case}: pixels away from the outline differ: {list(zip(xs, ys))[:5]}"
    assert (cut & exact).sum() / (cut | exact).sum() > 0.97


def test_mask_is_the_crop_of_a_canvas_holding_the_polygon():
    """Exactly what pycocotools draws on a canvas that holds the whole polygon, cut to the image; pycocotools
    alone is exact to the right and below, not to the left and above (it truncates negative coordinates)."""
    pad, inexact = 100, 0
    for case, polygon in _cases():
        if "far" in case:
            continue
        canvas = masks.decode(geometry.rasterise([polygon + pad], H + 2 * pad, W + 2 * pad))[pad:pad + H, pad:pad + W]
        assert np.array_equal(masks.decode(geometry.rasterise([polygon], H, W)), canvas), case
        direct = cocomask.decode(cocomask.frPyObjects([np.asarray(polygon, float).ravel().tolist()], H, W)[0])
        assert np.array_equal(direct, canvas) or (polygon < 0).any(), case
        inexact += not np.array_equal(direct, canvas)
    assert inexact > 0


def test_clamping_the_vertices_is_what_the_check_catches():
    """The old way (np.clip of each vertex) changes the shape: the comparison above would fail on it."""
    clamped = masks.decode(geometry.rasterise([np.clip(TRIANGLE, 0, [W, H])], H, W)).astype(bool)
    exact = _exact(TRIANGLE)
    assert (clamped & exact).sum() / (clamped | exact).sum() < 0.8
    ys, xs = np.nonzero(clamped ^ exact)
    assert not _near_edges(TRIANGLE, ys, xs).all()


def test_polygon_wholly_outside_gives_an_empty_mask():
    assert masks.area(geometry.rasterise([ARROW + [200, 0]], H, W)) == 0
    assert masks.area(geometry.rasterise([ARROW - [0, 500]], H, W)) == 0


def _label_of(release, q=0):
    i = release["gnd"]["gnd"][q]["easy"][0]
    return i, release["root"] / release["labels"][q, i]


def _pair_mask(folder, q, i):
    medium = load_dataset(str(folder), "pairs", split="medium")
    row = next(r for r in medium if (r["query_id"], r["index_id"]) == (q, i))
    return masks.decode(row["mask"]).astype(bool)


def test_built_mask_of_a_polygon_leaving_the_image(release, tmp_path):
    i, label = _label_of(release)
    label.write_text(json.dumps(synthetic.labelme([TRIANGLE], H, W)))
    report = build("proxford", release["root"], tmp_path / "out")
    assert {"query_id": 0, "index_id": i, "label": release["labels"][0, i], "points": 3} in report["clipped"]
    mask, exact = _pair_mask(tmp_path / "out", 0, i), _exact(TRIANGLE)
    assert (mask & exact).sum() / (mask | exact).sum() > 0.99


def test_a_circle_with_a_far_rim_is_bounded():
    start = time.process_time()  # CPU time: what the work costs, however busy the machine is
    polygon = geometry.circle([10.0, 10.0], [10.0 + 1e15, 10.0])
    assert len(polygon) <= geometry.CIRCLE_SIDES and np.isfinite(polygon).all()
    assert masks.area(geometry.rasterise([polygon], 48, 64)) == 48 * 64  # it covers the image
    assert masks.area(masks.from_polygons([np.array([[0, 0], [5e9, 0], [0, 5e9]])], 48, 64)) == 48 * 64
    assert time.process_time() - start < 5
    small = geometry.circle([20.0, 20.0], [30.0, 20.0])  # still within 0.05 px of the circle
    assert np.allclose(np.linalg.norm(small - 20.0, axis=1), 10.0)


# ---------------------------------------------------------------- LabelMe fields as they come
def _shape(points, label="target"):
    return {"label": label, "points": points, "group_id": None, "shape_type": "polygon", "flags": {}}


@pytest.mark.parametrize("given, missing", [("imageHeight", "imageWidth"), ("imageWidth", "imageHeight")])
def test_one_image_dimension_names_the_missing_field(release, tmp_path, given, missing):
    _, label = _label_of(release)
    document = synthetic.labelme([[[2, 2], [20, 2], [20, 12]]], H, W)
    del document[missing]
    label.write_text(json.dumps(document))
    with pytest.raises(ReleaseError) as err:
        build("proxford", release["root"], tmp_path / "out")
    value = {"imageHeight": H, "imageWidth": W}[given]
    assert f"{label}: {given} is {value} but {missing} is missing" in str(err.value) and "pair 0_" in str(err.value)
    assert "None" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_label_files_with_several_label_names_are_reported(release, tmp_path, capsys):
    i, label = _label_of(release)
    document = synthetic.labelme([], H, W)
    document["shapes"] = [_shape([[2, 2], [20, 2], [20, 12]]), _shape([[30, 5], [40, 5], [40, 15]], "window"),
                          _shape([[44, 30], [60, 30], [60, 40]])]
    label.write_text(json.dumps(document))
    out = tmp_path / "out"
    assert main(["build", "--benchmark", "proxford", "--data-dir", str(release["root"]), "--output", str(out)]) == 0
    assert (f"warning: 1 label files with several labels (see {out / 'build_report.json'})"
            in capsys.readouterr().err.splitlines())
    report = json.loads((out / "build_report.json").read_text())
    assert report["label_files_with_several_labels"] == [
        {"query_id": 0, "index_id": i, "label": release["labels"][0, i], "labels": ["target", "window"]}]
    assert report["counts"]["label_files_with_several_labels"] == 1
    mask = _pair_mask(out, 0, i)  # kept as the union of every shape: reported, not chosen from
    assert mask[4, 15] and mask[7, 38] and mask[32, 58] and mask.sum() < 300


# ---------------------------------------------------------------- image file names
def _jpg(release):
    return release["root"] / "revisitop/data/roxford5k/jpg"


def test_image_extension_in_any_case_in_a_folder(release, tiny_dataset, tmp_path):
    jpg = _jpg(release)
    (jpg / "index_002.jpg").rename(jpg / "index_002.JPG")
    (jpg / "query_001.jpg").rename(jpg / "query_001.Jpg")
    build("proxford", release["root"], tmp_path / "out")
    for shard in sorted(tiny_dataset["out"].glob("*/*.parquet")):  # the same rows, image bytes included
        assert pq.read_table(tmp_path / "out" / shard.relative_to(tiny_dataset["out"])).equals(pq.read_table(shard))
    shutil.move(jpg, tmp_path / "images")  # a folder given as --images, holding only .JPG names
    for path in (tmp_path / "images").iterdir():
        path.rename(path.with_suffix(".JPG"))
    build("proxford", release["root"], tmp_path / "out2", images=[tmp_path / "images"])
    report = json.loads((tmp_path / "out2" / "build_report.json").read_text())
    assert any(s["name"] == "16 images in images/" for s in report["sources"])


def test_two_files_of_one_image_name_in_a_folder(release, tmp_path):
    jpg = _jpg(release)
    shutil.copy(jpg / "index_002.jpg", jpg / "index_002.JPG")  # the same file twice: one image
    assert build("proxford", release["root"], tmp_path / "ok")["num_index"] == 12
    (jpg / "index_002.JPG").write_bytes((jpg / "index_003.jpg").read_bytes())
    with pytest.raises(ReleaseError) as err:
        build("proxford", release["root"], tmp_path / "out")
    message = str(err.value)
    assert f"index_002.jpg: two different files, {jpg / 'index_002.JPG'} and {jpg / 'index_002.jpg'}" in message
    assert "[index image 2" in message and "\n" not in message
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- a full disk
def _limit_file_size(limit):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.parametrize("where", ["a shard's first write", "inside the largest shard", "the largest file"])
def test_output_that_cannot_be_written_is_one_line_and_leaves_nothing(release, tiny_dataset, tmp_path, where):
    """A disk that fills (each file limited to a size): in a Parquet shard's first write, in the middle of one
    (Arrow's content-defined chunking aborted the process there), or in the largest file alone (the card's
    preview.jpg, which Pillow left cut short, the build saying it was written)."""
    sizes = sorted((p.stat().st_size, p.name) for p in tiny_dataset["out"].rglob("*") if p.is_file())  # same release
    limit = {"a shard's first write": 20_000, "the largest file": sizes[-1][0] - 1}.get(where)  # (its last write cut)
    if where == "inside the largest shard":  # images of 640x480: pages past the chunking's 256 KB minimum
        shutil.rmtree(release["root"])
        synthetic.write_tiny_release(release["root"], height=480, width=640)
        limit = sum(p.stat().st_size for p in release["root"].rglob("*.jpg")) // 2
    out = tmp_path / "out"
    command = ["pixret", "build", "--benchmark", "proxford", "--data-dir", str(release["root"]),
               "--output", str(out)]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env,
                          preexec_fn=_limit_file_size(limit))
    assert done.returncode == 1, done.stderr
    assert done.stderr == f"error: cannot write {out}: File too large\n"
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["release"]
    if where == "a shard's first write":
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
        assert done.returncode == 0, done.stderr  # the same command with room to write
