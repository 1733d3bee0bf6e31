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

from pixret.release import BENCHMARKS


def gnd_dir(root, benchmark: str, layout: str = "authors") -> Path:
    name = BENCHMARKS[benchmark][0]
    if layout == "authors":
        return Path(root) / "revisitop" / "data" / name
    if layout == "revisitop":
        return Path(root) / "data" / "datasets" / name
    raise ValueError(f"unknown layout {layout!r}")


def write_gnd(root, benchmark: str, gnd: dict, layout: str = "authors") -> Path:
    """gnd = revisitop's dict: imlist, qimlist, gnd (list of easy/hard/junk/bbx dicts)."""
    folder = gnd_dir(root, benchmark, layout)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"gnd_{BENCHMARKS[benchmark][0]}.pkl"
    path.write_bytes(pickle.dumps(gnd, protocol=3))
    return path


def write_pair2label(root, benchmark: str, pair2label: dict[tuple[int, int], str]) -> Path:
    """As the authors ship it: np.save of a dict {"q_i": path}."""
    path = Path(root) / f"{BENCHMARKS[benchmark][1]}_pair2labelpath.npy"
    np.save(path, np.array({f"{q}_{i}": rel for (q, i), rel in pair2label.items()}, dtype=object),
            allow_pickle=True)
    return path


def labelme(polygons, height: int, width: int, image_path: str = "") -> dict:
    """A LabelMe JSON document with one polygon shape per polygon."""
    return {
        "version": "4.5.6",
        "flags": {},
        "shapes": [
            {"label": "target", "points": np.asarray(p, dtype=float).tolist(), "group_id": None,
             "shape_type": "polygon", "flags": {}}
            for p in polygons
        ],
        "imagePath": image_path,
        "imageData": None,
        "imageHeight": int(height),
        "imageWidth": int(width),
    }


def write_label(root, rel: str, polygons, height: int, width: int, image_path: str = "") -> Path:
    path = Path(root) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(labelme(polygons, height, width, image_path)))
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
