"""Write releases in the exact upstream layout.

This module ships because the demo needs it: ``pixret demo`` (``pixret.world``) writes its generated world as an
upstream release with these writers, then builds it like a download. The tests and ``benchmarks/*.py`` write their
small releases with them too (``tiny_gnd``, ``write_tiny_release``, ``write_archive``: one tiny release for all, in
one place); generators only the tests use are in ``tests/generators.py``.

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

from pixret.metric.core.benchmarks import BENCHMARKS


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


# ---------------------------------------------------------------- a tiny release (tests, benchmarks)
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


# ---------------------------------------------------------------- the downloads as published (tests, benchmarks)
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


