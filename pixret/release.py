"""Reading the upstream release: revisitop ground truth, pair-to-label dict, LabelMe labels, JPEGs.

Everything here reads files it did not write, so every failure is a
``ReleaseError`` naming the file (and the pair), and pickles are loaded with a
restricted unpickler that can only build containers, numbers, strings and
numpy arrays: a crafted pickle is refused before any of its code runs.
"""

from __future__ import annotations

import io
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from pixret import masks as masklib

BENCHMARKS = {
    # benchmark: (revisitop dataset name, pair2labelpath file prefix)
    "proxford": ("roxford5k", "oxford"),
    "prparis": ("rparis6k", "paris"),
}
PROTOCOLS = ("easy", "medium", "hard")
EXIF_ORIENTATION = 0x0112


class ReleaseError(ValueError):
    """The upstream release is missing something or holds something malformed."""


# ---------------------------------------------------------------- pickles
_SAFE_GLOBALS = {
    # what np.save / pickle need to rebuild (object) arrays and numpy scalars
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # protocol-2 pickles of bytes
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def safe_unpickle(data: bytes, path) -> object:
    try:
        return _SafeUnpickler(io.BytesIO(data)).load()
    except Exception as err:  # noqa: BLE001 - any failure means an unusable file
        raise ReleaseError(f"{path}: not a plain-data pickle ({err})") from None


def load_pickle(path) -> object:
    """A .pkl file with builtin/numpy data only."""
    return safe_unpickle(_read_bytes(path), path)


def load_npy_object(path) -> object:
    """What ``np.load(path, allow_pickle=True).item()`` returns, without running pickle code."""
    raw = _read_bytes(path)
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0}.get(version, np.lib.format.read_array_header_2_0)
        header = read_header(stream, max_header_size=1 << 20)
    except Exception as err:  # noqa: BLE001
        raise ReleaseError(f"{path}: not a .npy file ({err})") from None
    shape, _, dtype = header
    if not dtype.hasobject:
        array = np.frombuffer(raw, dtype=dtype, offset=stream.tell()).reshape(shape)
    else:
        array = safe_unpickle(raw[stream.tell():], path)
    if not isinstance(array, np.ndarray) or array.shape != ():
        raise ReleaseError(f"{path}: expected a 0-d array holding a dict, got {getattr(array, 'shape', type(array))}")
    return array.item()


def _read_bytes(path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise ReleaseError(f"{path}: cannot read ({err.strerror or err})") from None


# ---------------------------------------------------------------- revisitop ground truth
@dataclass
class GroundTruth:
    """revisitop's gnd file: names and per-query easy/hard/junk lists of 0-based index ids."""

    path: Path
    query_names: list[str]
    index_names: list[str]
    easy: list[list[int]]
    hard: list[list[int]]
    junk: list[list[int]]
    bbx: list[list[float]]  # [x1, y1, x2, y2]

    def difficulty(self, query_id: int) -> dict[int, str]:
        """index id -> 'easy' / 'hard' / 'junk' for one query."""
        out = {i: "junk" for i in self.junk[query_id]}
        out.update({i: "hard" for i in self.hard[query_id]})
        out.update({i: "easy" for i in self.easy[query_id]})
        return out


def load_ground_truth(path) -> GroundTruth:
    data = load_pickle(path)
    if not isinstance(data, dict) or not {"gnd", "imlist", "qimlist"} <= set(data):
        raise ReleaseError(f"{path}: expected a dict with 'gnd', 'imlist', 'qimlist'")
    index_names = [str(n) for n in data["imlist"]]
    query_names = [str(n) for n in data["qimlist"]]
    if len(data["gnd"]) != len(query_names):
        raise ReleaseError(f"{path}: {len(data['gnd'])} gnd entries for {len(query_names)} queries")
    lists = {key: [] for key in ("easy", "hard", "junk")}
    bbx = []
    for q, entry in enumerate(data["gnd"]):
        for key, out in lists.items():
            ids = [int(i) for i in np.asarray(entry.get(key, []), dtype=np.int64).reshape(-1)]
            bad = [i for i in ids if not 0 <= i < len(index_names)]
            if bad:
                raise ReleaseError(f"{path}: query {q} '{key}' has index ids outside the imlist: {bad[:5]}")
            out.append(sorted(ids))
        box = [float(v) for v in np.asarray(entry["bbx"], dtype=np.float64).reshape(-1)]
        if len(box) != 4:
            raise ReleaseError(f"{path}: query {q} bbx must have 4 numbers, got {box}")
        bbx.append(box)
    return GroundTruth(Path(path), query_names, index_names, lists["easy"], lists["hard"], lists["junk"], bbx)


def protocol_lists(gt: GroundTruth, protocol: str, query_id: int) -> tuple[list[int], list[int]]:
    """(positives, junk) of one query under a revisitop protocol."""
    easy, hard, junk = gt.easy[query_id], gt.hard[query_id], gt.junk[query_id]
    if protocol == "easy":
        return easy, sorted(junk + hard)
    if protocol == "medium":
        return sorted(easy + hard), junk
    if protocol == "hard":
        return hard, sorted(junk + easy)
    raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")


# ---------------------------------------------------------------- release layout
@dataclass
class Release:
    """Where the files of one benchmark are."""

    benchmark: str
    root: Path
    gnd_path: Path
    pair2label_path: Path
    images_dir: Path

    def image_path(self, name: str) -> Path:
        return self.images_dir / f"{name}.jpg"


def locate_release(data_dir, benchmark: str, images_dir=None) -> Release:
    """Find the files of ``benchmark`` under ``data_dir``.

    gnd: ``revisitop/data/<name>/`` (the authors' layout), ``data/datasets/<name>/``
    (revisitop's own), ``<name>/`` or ``data_dir`` itself. Images: ``images_dir``
    (holding ``<image>.jpg`` or ``jpg/<image>.jpg``), else ``jpg/`` beside the gnd file.
    """
    if benchmark not in BENCHMARKS:
        raise ReleaseError(f"unknown benchmark {benchmark!r}; expected one of {sorted(BENCHMARKS)}")
    name, prefix = BENCHMARKS[benchmark]
    root = Path(data_dir)
    if not root.is_dir():
        raise ReleaseError(f"{root}: release folder not found")
    gnd_file = f"gnd_{name}.pkl"
    candidates = [
        root / "revisitop" / "data" / name / gnd_file,
        root / "data" / "datasets" / name / gnd_file,
        root / "revisitop" / "data" / "datasets" / name / gnd_file,
        root / name / gnd_file,
        root / gnd_file,
    ]
    gnd_path = next((p for p in candidates if p.is_file()), None)
    if gnd_path is None:
        looked = ", ".join(str(p.relative_to(root)) for p in candidates)
        raise ReleaseError(f"{root}: no {gnd_file}; looked for {looked}")
    pair2label = root / f"{prefix}_pair2labelpath.npy"
    if not pair2label.is_file():
        raise ReleaseError(f"{pair2label}: pair-to-label file not found")
    if images_dir is None:
        images = gnd_path.parent / "jpg"
    else:
        images = Path(images_dir)
        if (images / "jpg").is_dir():
            images = images / "jpg"
    if not images.is_dir():
        raise ReleaseError(f"{images}: images folder not found (pass images_dir)")
    return Release(benchmark, root, gnd_path, pair2label, images)


def load_pair2label(path) -> dict[tuple[int, int], str]:
    """The authors' dict "q_i" -> label path, as {(query_id, index_id): path}."""
    data = load_npy_object(path)
    if not isinstance(data, dict):
        raise ReleaseError(f"{path}: expected a dict, got {type(data).__name__}")
    out = {}
    for key, value in data.items():
        parts = str(key).split("_")
        if len(parts) != 2 or not all(p.isdigit() for p in parts) or not isinstance(value, str):
            raise ReleaseError(f"{path}: entry {key!r}: expected 'query_index' -> label path string")
        out[int(parts[0]), int(parts[1])] = value
    return out


# ---------------------------------------------------------------- labels and images
@dataclass
class Label:
    polygons: list[np.ndarray]  # each Nx2 float (x, y)
    height: int | None  # imageHeight, when the file has it
    width: int | None
    notes: list[str] = field(default_factory=list)


def read_label(path) -> Label:
    """LabelMe JSON -> its polygons (the mask is their union)."""
    try:
        data = json.loads(_read_bytes(path))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ReleaseError(f"{path}: not valid LabelMe JSON ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise ReleaseError(f"{path}: LabelMe JSON without a 'shapes' list")
    polygons = []
    for k, shape in enumerate(data["shapes"]):
        if shape.get("shape_type", "polygon") != "polygon":
            raise ReleaseError(f"{path}: shape {k} is a {shape.get('shape_type')!r}, only polygons are supported")
        try:
            points = np.asarray(shape["points"], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise ReleaseError(f"{path}: shape {k} has no list of [x, y] points") from None
        if points.ndim != 2 or points.shape[1] != 2 or len(points) < 3 or not np.isfinite(points).all():
            raise ReleaseError(f"{path}: shape {k} is not a polygon of at least 3 finite [x, y] points")
        polygons.append(points)
    if not polygons:
        raise ReleaseError(f"{path}: label has no polygon")
    height, width = data.get("imageHeight"), data.get("imageWidth")
    return Label(polygons, None if height is None else int(height), None if width is None else int(width))


def read_jpeg(path) -> tuple[bytes, tuple[int, int]]:
    """The file's bytes and its (height, width) as displayed, i.e. after EXIF orientation.

    Decodes the whole entropy stream at 1/8 scale, so truncated or corrupt
    files fail here rather than at training time.
    """
    data = _read_bytes(path)
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format != "JPEG":
                raise ReleaseError(f"{path}: not a JPEG ({im.format})")
            width, height = im.size
            orientation = im.getexif().get(EXIF_ORIENTATION, 1)
            im.draft("L", (max(1, width // 8), max(1, height // 8)))
            im.load()
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as err:
        if isinstance(err, ReleaseError):
            raise
        raise ReleaseError(f"{path}: corrupt or unreadable JPEG ({err})") from None
    if orientation in (5, 6, 7, 8):  # rotated by 90 degrees
        width, height = height, width
    return data, (height, width)


def image_size(path) -> tuple[int, int]:
    return read_jpeg(path)[1]


# ---------------------------------------------------------------- masks of all labelled pairs
@dataclass
class PairMasks:
    """Ground-truth masks of the (query, positive) pairs, and what the build should report."""

    masks: dict[tuple[int, int], dict]  # (query_id, index_id) -> RLE
    report: dict


def read_pair_masks(release: Release, gt: GroundTruth, ignore_extra_labels: bool = False) -> PairMasks:
    """Rasterise the label of every (query, easy-or-hard image) pair of the release.

    Errors (ReleaseError) for anything that would make a wrong mask; the report
    lists what is kept but worth knowing: positives without a label (null mask),
    polygons clipped to the image, empty masks, ignored extra label entries.
    """
    pair2label = load_pair2label(release.pair2label_path)
    positives = {(q, i) for q in range(len(gt.query_names)) for i in gt.easy[q] + gt.hard[q]}
    report = {"unlabelled_positives": [], "clipped": [], "empty_masks": [], "ignored_label_entries": []}
    for (q, i), rel in sorted(pair2label.items()):
        if (q, i) not in positives:
            where = f"{release.pair2label_path}: entry '{q}_{i}' ({rel})"
            if not (0 <= q < len(gt.query_names) and 0 <= i < len(gt.index_names)):
                raise ReleaseError(f"{where}: unknown query or index id")
            if not ignore_extra_labels:
                raise ReleaseError(f"{where}: labels a pair that is not an easy/hard positive of query {q} "
                                   "(pass ignore_extra_labels to skip such entries)")
            report["ignored_label_entries"].append({"query_id": q, "index_id": i, "label": rel})

    labels: dict[str, Label] = {}
    sizes: dict[int, tuple[int, int]] = {}
    rles: dict[tuple[str, int, int], dict] = {}
    out = {}
    for q, i in tqdm(sorted(positives), desc="reading labels", unit="pair", leave=False):
        rel = pair2label.get((q, i))
        if rel is None:
            report["unlabelled_positives"].append({"query_id": q, "index_id": i, "index_name": gt.index_names[i]})
            continue
        if i not in sizes:
            sizes[i] = image_size(release.image_path(gt.index_names[i]))
        height, width = sizes[i]
        path = release.root / rel
        if rel not in labels:
            try:
                labels[rel] = read_label(path)
            except ReleaseError as err:
                raise ReleaseError(f"{err} (pair {q}_{i})") from None
        label = labels[rel]
        where = f"{path} (pair {q}_{i}, image {gt.index_names[i]})"
        if (label.height, label.width) != (None, None) and (label.height, label.width) != (height, width):
            raise ReleaseError(f"{where}: label is for a {label.width}x{label.height} image, "
                               f"the image is {width}x{height} (after EXIF orientation)")
        key = (rel, height, width)
        if key not in rles:
            polygons = []
            for points in label.polygons:
                clipped = np.clip(points, 0, [width, height])
                moved = int((clipped != points).any(axis=1).sum())
                if moved:
                    report["clipped"].append({"query_id": q, "index_id": i, "label": rel, "points": moved})
                polygons.append(clipped)
            rles[key] = masklib.from_polygons(polygons, height, width)
            if masklib.area(rles[key]) == 0:
                report["empty_masks"].append({"query_id": q, "index_id": i, "label": rel})
        out[q, i] = rles[key]
    report["counts"] = {
        "positive_pairs": len(positives),
        "labelled_pairs": len(out),
        "label_files": len(labels),
        **{k: len(v) for k, v in report.items() if isinstance(v, list)},
    }
    return PairMasks(out, report)
