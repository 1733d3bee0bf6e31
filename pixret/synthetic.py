"""Write releases in the exact upstream layout (tests, benchmarks and the demo use it).

    ROOT/oxford_pair2labelpath.npy              pickled dict "q_i" -> label path
    ROOT/revisitop/data/roxford5k/gnd_roxford5k.pkl
    ROOT/revisitop/data/roxford5k/jpg/<name>.jpg
    ROOT/labels/<...>.json                      LabelMe JSON

``layout="revisitop"`` puts gnd and jpg under ``ROOT/data/datasets/<name>/`` instead.
"""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

from pixret.metric.core.benchmarks import BENCHMARKS, POSITIVE_DIFFICULTIES


def gnd_dir(root, benchmark: str, layout: str = "authors") -> Path:
    name = BENCHMARKS[benchmark].revisitop_name
    if layout == "authors":
        return Path(root) / "revisitop" / "data" / name
    if layout == "revisitop":
        return Path(root) / "data" / "datasets" / name
    raise ValueError(f"unknown layout {layout!r}")


def write_gnd(root, benchmark: str, gnd: dict, layout: str = "authors") -> Path:
    """gnd = revisitop's dict: imlist, qimlist, gnd (list of easy/hard/junk/bbx dicts)."""
    folder = gnd_dir(root, benchmark, layout)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"gnd_{BENCHMARKS[benchmark].revisitop_name}.pkl"
    path.write_bytes(pickle.dumps(gnd, protocol=3))
    return path


def write_pair2label(root, benchmark: str, pair2label: dict[tuple[int, int], str]) -> Path:
    """As the authors ship it: np.save of a dict {"q_i": path}."""
    path = Path(root) / f"{BENCHMARKS[benchmark].label_prefix}_pair2labelpath.npy"
    np.save(path, np.array({f"{q}_{i}": rel for (q, i), rel in pair2label.items()}, dtype=object),
            allow_pickle=True)
    return path


def labelme_shape(shape) -> dict:
    """One LabelMe shape: an (N, 2) array of points is a polygon; a dict is written as given (its ``points`` as
    they are: ints stay ints; no ``shape_type`` key: none written), with LabelMe's other keys added."""
    if isinstance(shape, dict):
        return {"label": "target", "group_id": None, "flags": {}, **shape}
    return {"label": "target", "points": np.asarray(shape, dtype=float).tolist(), "group_id": None,
            "shape_type": "polygon", "flags": {}}


def labelme(shapes, height: int, width: int, image_path: str = "") -> dict:
    """A LabelMe JSON document: one shape per item of ``shapes`` (``labelme_shape``: arrays are polygons)."""
    return {
        "version": "4.5.6",
        "flags": {},
        "shapes": [labelme_shape(shape) for shape in shapes],
        "imagePath": image_path,
        "imageData": None,
        "imageHeight": int(height),
        "imageWidth": int(width),
    }


def write_label(root, rel: str, shapes, height: int, width: int, image_path: str = "") -> Path:
    """The LabelMe file ``root/rel`` of ``shapes`` (``labelme``)."""
    path = Path(root) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(labelme(shapes, height, width, image_path)))
    return path


# LabelMe shapes as JSON text, for a 64 x 48 image (tests of what the build keeps as released): text, not Python
# floats, so that whole numbers and 18-digit decimals reach the file exactly as written here.
SHAPES_IN_IMAGE = """[
  {"label": "target", "points": [[12, 3], [40.25, 3], [40.25, 20.5], [12, 20.5]], "shape_type": "polygon"},
  {"label": "target", "points": [[44.123456789012345678, 30.1], [60.987654321098765, 44.5]], "shape_type": "rectangle"},
  {"label": "target", "points": [[20.5, 33.25], [26, 36]], "shape_type": "circle"},
  {"label": "target", "points": [[2, 2], [8, 2], [5, 9.000000000000002]], "shape_type": null},
  {"label": "target", "points": [[50, 2], [60, 4], [55.5, 12]]}
]"""
SHAPES_LEAVING_THE_IMAGE = """[
  {"label": "target", "points": [[-5.5, 40], [123.456789012345678, 42.75], [20, 47.9]]},
  {"label": "target", "points": [[-3, -2], [10.5, 6]], "shape_type": "rectangle"},
  {"label": "target", "points": [[30.333333333333333, 10], [31, 11], [30, 12]], "shape_type": "polygon"}
]"""


def write_label_text(root, rel: str, shapes_text: str, height: int, width: int) -> Path:
    """A LabelMe file whose "shapes" is ``shapes_text`` written as it is (``SHAPES_IN_IMAGE``, ...)."""
    path = Path(root) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"version": "5.0.1", "flags": {}, "shapes": ' + shapes_text + ', "imagePath": "", '
                    f'"imageData": null, "imageHeight": {int(height)}, "imageWidth": {int(width)}}}')
    return path


def jpeg_bytes(pixels: np.ndarray, quality: int = 90, orientation: int | None = None) -> bytes:
    buf = io.BytesIO()
    image = Image.fromarray(np.asarray(pixels, dtype=np.uint8))
    exif = None
    if orientation is not None:
        exif = image.getexif()
        exif[0x0112] = orientation
    image.save(buf, "JPEG", quality=quality, **({"exif": exif} if exif is not None else {}))
    return buf.getvalue()


def write_jpeg(root, benchmark: str, name: str, pixels: np.ndarray, layout: str = "authors", **kw) -> Path:
    folder = gnd_dir(root, benchmark, layout) / "jpg"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.jpg"
    path.write_bytes(jpeg_bytes(pixels, **kw))
    return path


# ---------------------------------------------------------------- a tiny release (tests)
def tiny_gnd(num_queries: int = 4, num_index: int = 12, seed: int = 0) -> dict:
    """revisitop-style gnd: queries in groups of 2 sharing lists, every list kind present."""
    rng = np.random.default_rng(seed)
    gnd = []
    for q in range(num_queries):
        ids = np.random.default_rng(seed * 1000 + q // 2).permutation(num_index)
        easy, hard, junk = sorted(ids[:3].tolist()), sorted(ids[3:5].tolist()), sorted(ids[5:6].tolist())
        x1, y1 = rng.uniform(0, 20, 2)
        gnd.append({"easy": easy, "hard": hard, "junk": junk, "bbx": [x1, y1, x1 + 30.5, y1 + 20.0]})
    return {"imlist": [f"index_{i:03d}" for i in range(num_index)],
            "qimlist": [f"query_{q:03d}" for q in range(num_queries)], "gnd": gnd}


def tiny_benchmark(name: str, paper_tables=None, ignored_queries=(3,), gnd: dict | None = None):
    """A registry entry whose revisitop ground truth is ``gnd`` (default ``tiny_gnd()``): once registered, a
    tiny release of that gnd written with ``benchmark=name`` builds as that benchmark (tests of what only a
    real benchmark gets). Data is identified by its query names: while it is registered, other data with
    these names is this benchmark too."""
    from pixret.metric.core.benchmarks import Benchmark, lists_digest

    gnd = gnd or tiny_gnd()
    title = name.capitalize()
    return Benchmark(
        name=name, pretty_name=f"PR{title}", revisitop_name=f"r{name}3k",
        revisitop_pretty=f"Revisited {title} (R{title}3k)",
        label_prefix=name, images=(f"{name}_images.tgz",), images_url=f"https://example.org/{name}",
        images_source=f"made-up pictures (https://example.org/{name}), for the test",
        query_names=tuple(gnd["qimlist"]), index_size=len(gnd["imlist"]),
        counts=tuple((len(g["easy"]), len(g["hard"]), len(g["junk"])) for g in gnd["gnd"]),
        ignored_queries=ignored_queries, paper_tables=paper_tables,
        gnd_sha256=lists_digest(*([g[k] for g in gnd["gnd"]] for k in ("easy", "hard", "junk"))))


def write_tiny_release(root, benchmark: str = "proxford", gnd: dict | None = None, layout: str = "authors",
                       height: int = 48, width: int = 64, seed: int = 0) -> dict:
    """A complete small release of random images and box labels (two polygons for odd ids);
    returns {"gnd", "labels": {(q, i): label path relative to root}}."""
    root = Path(root)
    gnd = gnd or tiny_gnd(seed=seed)
    rng = np.random.default_rng(seed)
    for name in gnd["imlist"] + gnd["qimlist"]:
        write_jpeg(root, benchmark, name, rng.integers(0, 255, (height, width, 3)), layout=layout)
    labels = {}
    for q, entry in enumerate(gnd["gnd"]):
        for i in entry["easy"] + entry["hard"]:
            rel = f"labels/{benchmark}/g{q // 2}/{gnd['imlist'][i]}.json"  # a query group shares label files
            if not (root / rel).exists():
                x, y = rng.uniform(2, width / 2), rng.uniform(2, height / 2)
                w, h = rng.uniform(8, width / 2 - 2), rng.uniform(8, height / 2 - 2)
                shapes = [np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])]
                if i % 2:  # the mask is the union of a label's polygons
                    shapes.append(np.array([[1, 1], [6, 1], [6, 6]], dtype=float))
                write_label(root, rel, shapes, height, width, f"{gnd['imlist'][i]}.jpg")
            labels[q, i] = rel
    write_gnd(root, benchmark, gnd, layout)
    write_pair2label(root, benchmark, labels)
    return {"gnd": gnd, "labels": labels}


def write_shapes_release(root, benchmark: str = "proxford") -> dict:
    """``write_tiny_release`` with labels the shapes column must keep as released: query group 0 (queries 0, 1)
    labels its first easy image with ``SHAPES_IN_IMAGE``, group 1 (queries 2, 3) its first easy image with
    ``SHAPES_LEAVING_THE_IMAGE``, and query 1's first hard image has no label. Returns write_tiny_release's dict
    with "in_image" and "leaving" (the label files' paths relative to root) and "unlabelled" (the pair)."""
    info = write_tiny_release(root, benchmark)
    gnd, labels = info["gnd"], dict(info["labels"])
    in_image, leaving = labels[0, gnd["gnd"][0]["easy"][0]], labels[2, gnd["gnd"][2]["easy"][0]]
    write_label_text(root, in_image, SHAPES_IN_IMAGE, 48, 64)
    write_label_text(root, leaving, SHAPES_LEAVING_THE_IMAGE, 48, 64)
    unlabelled = (1, gnd["gnd"][1]["hard"][0])
    del labels[unlabelled]
    write_pair2label(root, benchmark, labels)
    return {**info, "labels": labels, "in_image": in_image, "leaving": leaving, "unlabelled": unlabelled}


def split_rows(names, counts, index_size: int, mask: dict, protocol: str = "medium") -> list[dict]:
    """Rows of a pairs split with these query names and (easy, hard, junk) list lengths, in memory (ids made up;
    every positive has ``mask``): a benchmark-shaped split for checks that read names and list lengths."""
    rows = []
    for q, (name, per_kind) in enumerate(zip(names, counts)):
        kinds = [k for k, n in zip(("easy", "hard", "junk"), per_kind) for _ in range(n)]
        for i, kind in enumerate(kinds):
            positive = kind in POSITIVE_DIFFICULTIES[protocol]
            rows.append({"query_id": q, "index_id": (q * 37 + i * 11) % index_size, "query_name": name,
                         "difficulty": kind, "positive": positive, "mask": mask if kind != "junk" else None})
    return rows


# ---------------------------------------------------------------- the downloads as published
def write_archive(path, images: dict, folder_of=lambda name: "") -> Path:
    """A .tgz of JPEGs {name: bytes}: flat like oxbuild_images.tgz, or in sub-folders like the Paris
    archives (``folder_of(name)`` -> e.g. "paris/louvre/")."""
    import tarfile

    path = Path(path)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in images.items():
            member = tarfile.TarInfo(f"{folder_of(name)}{name}.jpg")
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return path


def write_gnd_mat(path, gnd: dict) -> Path:
    """revisitop's gnd as its MATLAB file: 1-based ids, 1 x N rows, cell arrays of names (needs scipy)."""
    from scipy.io import savemat

    def ids(values):
        return np.asarray(values, np.int32).reshape(1, -1) + 1 if len(values) else np.zeros((0, 0), np.uint8)

    entries = np.zeros((len(gnd["gnd"]), 1), dtype=[(k, object) for k in ("easy", "hard", "junk", "bbx")])
    for q, entry in enumerate(gnd["gnd"]):
        entries[q, 0] = (ids(entry["easy"]), ids(entry["hard"]), ids(entry["junk"]),
                         np.asarray(entry["bbx"], np.float64).reshape(1, 4))
    cells = lambda names: np.asarray([[np.asarray([n]) for n in names]], dtype=object)  # noqa: E731
    savemat(str(path), {"imlist": cells(gnd["imlist"]), "qimlist": cells(gnd["qimlist"]), "gnd": entries})
    return Path(path)
