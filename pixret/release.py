"""Reading the upstream files: revisitop ground truth, the pair-to-label dict, LabelMe labels, JPEGs.

Everything here reads files it did not write, so every failure is a
``ReleaseError`` naming the file (and the pair), and pickles are loaded with a
restricted unpickler that can only build containers, numbers, strings and
numpy arrays: a crafted pickle is refused before any of its code runs.

Where the files are (``locate_release``):
- labels: the authors' release folder, holding ``<oxford|paris>_pair2labelpath.npy`` (or one
  folder deeper, as an archive often extracts) and the LabelMe files its paths name;
- gnd: revisitop's ``gnd_<name>.pkl`` or ``.mat``, given, or found in the release
  (``revisitop/data/<name>/``, revisitop's ``data/datasets/<name>/``, ...);
- images: folders of ``<name>.jpg`` and/or the original ``.tgz`` archives (see ``pixret.images``);
  default ``jpg/`` beside the gnd file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath

import numpy as np
from pixret.progress import bar

from pixret import geometry
from pixret import masks as masklib
from pixret.errors import ReleaseError
from pixret.images import ImageSource, open_images, read_bytes, read_jpeg
from pixret.metric.files import safe_pickle, strictjson
from pixret.metric.core.benchmarks import BENCHMARKS, PROTOCOLS
SHAPES_AS_POLYGONS = ("polygon", None)  # LabelMe's own default for a missing shape_type is a polygon
SHAPES_FILLED = ("rectangle", "circle")  # filled, and listed in the build report

__all__ = ["ReleaseError", "GroundTruth", "Release", "locate_release",
           "load_ground_truth", "load_pickle", "load_npy_object", "load_pair2label", "protocol_lists",
           "read_label", "read_pair_masks", "read_jpeg"]


# ---------------------------------------------------------------- pickles
# the restricted unpickler lives in the metric package (the Space reads the authors' files too)
def load_pickle(path) -> object:
    """A .pkl file with builtin/numpy data only."""
    return safe_pickle.load_pickle(path, ReleaseError)


def load_npy_object(path) -> object:
    """What ``np.load(path, allow_pickle=True).item()`` returns, without running pickle code."""
    return safe_pickle.load_npy_object(path, ReleaseError)


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
    """revisitop's gnd from its .pkl (0-based ids) or its .mat (MATLAB, 1-based ids: converted).

    Checked as revisitop writes it: unique names, integer ids within the imlist, each image at
    most once per query (easy, hard and junk are disjoint), a finite query box with x1 < x2, y1 < y2.
    """
    path = Path(path)
    if path.suffix.lower() == ".mat":
        from pixret.matfile import load_gnd_mat

        data = load_gnd_mat(path)
    else:
        data = load_pickle(path)
    if not isinstance(data, dict) or not {"gnd", "imlist", "qimlist"} <= set(data):
        raise ReleaseError(f"{path}: expected a dict with 'gnd', 'imlist', 'qimlist'")
    index_names, query_names = _names(data["imlist"], "imlist", path), _names(data["qimlist"], "qimlist", path)
    if not isinstance(data["gnd"], (list, tuple)) or len(data["gnd"]) != len(query_names):
        raise ReleaseError(f"{path}: 'gnd' must be a list of one entry per query ({len(query_names)})")
    lists = {key: [] for key in ("easy", "hard", "junk")}
    bbx = []
    for q, entry in enumerate(data["gnd"]):
        if not isinstance(entry, dict):
            raise ReleaseError(f"{path}: gnd entry {q} is not a dict")
        seen: dict[int, str] = {}
        for key, out in lists.items():
            ids = _ids(entry.get(key, []), f"{path}: query {q} '{key}'")
            bad = [i for i in ids if not 0 <= i < len(index_names)]
            if bad:
                raise ReleaseError(f"{path}: query {q} '{key}' has index ids outside the imlist: {bad[:5]}")
            twice = [i for i in ids if i in seen] + [i for i in set(ids) if ids.count(i) > 1]
            if twice:
                where = seen.get(twice[0], key)
                raise ReleaseError(f"{path}: query {q} lists index id {twice[0]} twice ('{where}' and '{key}'): "
                                   "easy, hard and junk must be disjoint")
            seen.update({i: key for i in ids})
            out.append(sorted(ids))
        try:
            box = np.asarray(entry["bbx"], dtype=np.float64).reshape(-1)
        except (KeyError, TypeError, ValueError):
            raise ReleaseError(f"{path}: query {q} has no numeric 'bbx'") from None
        if box.shape != (4,) or not np.isfinite(box).all() or box[2] <= box[0] or box[3] <= box[1]:
            raise ReleaseError(f"{path}: query {q} bbx must be [x1, y1, x2, y2] with x1 < x2, y1 < y2, got "
                               f"{box.tolist()}")
        bbx.append([float(v) for v in box])
    return GroundTruth(path, query_names, index_names, lists["easy"], lists["hard"], lists["junk"], bbx)


def _names(values, key: str, path) -> list[str]:
    if not isinstance(values, (list, tuple, np.ndarray)) or not all(isinstance(v, (str, np.str_)) for v in values):
        raise ReleaseError(f"{path}: '{key}' must be a list of image names")
    names = [str(v) for v in values]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise ReleaseError(f"{path}: '{key}' names {twice!r} twice")
    return names


def _ids(values, where: str) -> list[int]:
    """Index ids: integers (numpy or Python), not bools, strings or fractions."""
    array = np.asarray(values).reshape(-1) if not isinstance(values, (str, bytes)) else np.asarray([values])
    if array.size and (array.dtype.kind not in "iu"):
        raise ReleaseError(f"{where} must be integer index ids, got {array[:5].tolist()}")
    return [int(i) for i in array]


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
    root: Path  # the label release: label paths are relative to it
    gnd_path: Path
    pair2label_path: Path
    images: ImageSource

    @cached_property
    def ground_truth(self) -> GroundTruth:
        """revisitop's gnd, read once for every config of a build."""
        return load_ground_truth(self.gnd_path)

    def label_path(self, rel: str) -> Path:
        """The label file of a pair2labelpath entry; Windows separators are read as '/', a path
        that leaves the release is an error."""
        posix = PurePosixPath(str(rel).replace("\\", "/"))
        if posix.is_absolute() or ".." in posix.parts or (posix.parts and ":" in posix.parts[0]):
            raise ReleaseError(f"{self.pair2label_path}: label path {rel!r} leaves the release folder")
        return self.root.joinpath(*posix.parts)


def _gnd_candidates(root: Path, name: str) -> list[Path]:
    gnd_file = f"gnd_{name}.pkl"
    return [root / "revisitop" / "data" / name / gnd_file, root / "data" / "datasets" / name / gnd_file,
            root / "revisitop" / "data" / "datasets" / name / gnd_file, root / name / gnd_file, root / gnd_file]


def locate_release(benchmark: str, labels, gnd=None, images=None, workers: int | None = None) -> Release:
    """Find the files of ``benchmark``: the label release ``labels`` (or one folder inside it),
    revisitop's ``gnd`` (default: found in the release) and ``images`` (folders and/or .tgz
    archives; default: ``jpg/`` beside the gnd file; ``workers`` threads check them)."""
    if benchmark not in BENCHMARKS:
        raise ReleaseError(f"unknown benchmark {benchmark!r}; expected one of {sorted(BENCHMARKS)}")
    name, prefix = BENCHMARKS[benchmark].revisitop_name, BENCHMARKS[benchmark].label_prefix
    given = Path(labels)
    if not given.is_dir():
        raise ReleaseError(f"{given}: release folder not found")
    npy = f"{prefix}_pair2labelpath.npy"
    found = [given / npy] if (given / npy).is_file() else sorted(given.glob(f"*/{npy}"))
    if len(found) != 1:
        raise ReleaseError(f"{given}: no {npy} in it or in a folder inside it" if not found else
                           f"{given}: several {npy} ({', '.join(str(p) for p in found)}): point at one release")
    root = found[0].parent
    if gnd is None:
        candidates = _gnd_candidates(root, name) + ([] if root == given else _gnd_candidates(given, name))
        gnd_path = next((p for p in candidates if p.is_file()), None)
        if gnd_path is None:
            looked = ", ".join(dict.fromkeys(f"{p.parent.relative_to(given).as_posix()}/" for p in candidates))
            raise ReleaseError(f"{given}: no gnd_{name}.pkl in the release (looked in {looked}); pass revisitop's "
                               f"gnd_{name}.pkl or .mat as gnd=...")
    else:
        gnd_path = Path(gnd)
        if not gnd_path.is_file():
            raise ReleaseError(f"{gnd_path}: gnd file not found")
        if gnd_path.suffix.lower() not in (".pkl", ".mat"):
            raise ReleaseError(f"{gnd_path}: expected revisitop's gnd_{name}.pkl or gnd_{name}.mat")
    if images is None or len(images) == 0:
        images = [gnd_path.parent / "jpg"]
        if not images[0].is_dir():
            raise ReleaseError(f"{images[0]}: images folder not found (pass the images: images=...)")
    return Release(benchmark, root, gnd_path, found[0], open_images(images, workers))


def load_pair2label(path) -> dict[tuple[int, int], str]:
    """The authors' dict "q_i" -> label path, as {(query_id, index_id): path}."""
    data = load_npy_object(path)
    if not isinstance(data, dict):
        raise ReleaseError(f"{path}: expected a dict, got {type(data).__name__}")
    out = {}
    for key, value in data.items():
        parts = str(key).split("_")
        if len(parts) != 2 or not all(p.isascii() and p.isdigit() for p in parts) or not isinstance(value, str):
            raise ReleaseError(f"{path}: entry {key!r}: expected 'query_index' -> label path string")
        pair = int(parts[0]), int(parts[1])
        if pair in out:
            raise ReleaseError(f"{path}: entry {key!r} names pair {pair} again (another key has it): which label is "
                               "it?")
        out[pair] = value
    return out


# ---------------------------------------------------------------- labels
@dataclass
class Label:
    polygons: list[np.ndarray]  # each Nx2 float (x, y); rectangles and circles as polygons
    height: int | None  # imageHeight, when the file has it
    width: int | None
    filled: list[str] = field(default_factory=list)  # "shape k: rectangle" for shapes filled as polygons
    names: list = field(default_factory=list)  # the shapes' distinct "label" values, in order of appearance
    shapes: list[dict] = field(default_factory=list)  # the file's shapes as released: see ``read_label``


def read_label(path) -> Label:
    """LabelMe JSON -> its shapes as polygons (the mask is their union), and the shapes as released.

    A missing or null shape_type is a polygon (LabelMe's default); a rectangle is the box
    between its two corners and a circle the disc of its centre and rim point; any other
    shape (line, linestrip, point, mask, ...) is an error.

    ``Label.shapes`` keeps every shape in file order as ``{"shape_type": str or None, "points":
    [[x, y], ...]}``: the type as the file gives it (None when it has none), the points as the JSON
    parser reads them, as floats (an int 12 is 12.0): the annotation the authors' evaluation fills
    (``rows.SHAPES``).
    """
    text = read_bytes(path)  # (a file that cannot be read is said so, not called invalid JSON)
    try:
        data = strictjson.loads(text)
    except RecursionError:
        raise ReleaseError(f"{path}: not valid LabelMe JSON (nested too deeply)") from None
    except (UnicodeDecodeError, ValueError) as err:
        raise ReleaseError(f"{path}: not valid LabelMe JSON ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise ReleaseError(f"{path}: LabelMe JSON without a 'shapes' list")
    polygons, filled, names, shapes = [], [], [], []
    for k, shape in enumerate(data["shapes"]):
        if not isinstance(shape, dict):
            raise ReleaseError(f"{path}: shape {k} is not an object with points and shape_type")
        if shape.get("label") not in names:
            names.append(shape.get("label"))
        kind = shape.get("shape_type")
        try:
            points = np.asarray(shape["points"])
            if points.dtype.kind not in "iuf":
                raise TypeError
            points = points.astype(np.float64)
        except (KeyError, TypeError, ValueError):
            raise ReleaseError(f"{path}: shape {k} has no list of [x, y] numbers as points") from None
        if points.ndim != 2 or points.shape[1:] != (2,) or not np.isfinite(points).all():
            raise ReleaseError(f"{path}: shape {k} points must be finite [x, y] pairs")
        shapes.append({"shape_type": kind, "points": points.tolist()})  # float64 -> float: the parsed values
        if kind in SHAPES_AS_POLYGONS:
            if len(points) < 3:
                raise ReleaseError(f"{path}: shape {k} is a polygon of {len(points)} points (at least 3 needed)")
            polygons.append(points)
        elif kind in SHAPES_FILLED:
            if len(points) != 2:
                raise ReleaseError(f"{path}: shape {k} is a {kind} of {len(points)} points (2 expected)")
            polygons.append(geometry.rectangle(*points) if kind == "rectangle" else geometry.circle(*points))
            filled.append(f"shape {k}: {kind}")
        else:
            raise ReleaseError(f"{path}: shape {k} is a {kind!r}; only polygon, rectangle and circle shapes "
                               "make a mask")
    if not polygons:
        raise ReleaseError(f"{path}: label has no shape")
    height, width = _dimension(data, "imageHeight", path), _dimension(data, "imageWidth", path)
    if (height is None) != (width is None):
        given, value, missing = ("imageHeight", height, "imageWidth") if width is None else ("imageWidth", width,
                                                                                              "imageHeight")
        raise ReleaseError(f"{path}: {given} is {value} but {missing} is missing (LabelMe writes both)")
    return Label(polygons, height, width, filled, names, shapes)


def _dimension(data: dict, key: str, path) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or value != int(value) or value <= 0):
        raise ReleaseError(f"{path}: {key} must be a positive whole number, got {value!r}")
    return int(value)


# ---------------------------------------------------------------- masks of all labelled pairs
@dataclass
class PairMasks:
    """Ground-truth masks of the (query, positive) pairs, their labels' shapes, and what the build should report."""

    masks: dict[tuple[int, int], dict]  # (query_id, index_id) -> RLE
    report: dict
    shapes: dict[tuple[int, int], list[dict]] = field(default_factory=dict)  # the same pairs -> Label.shapes
    label_files: list[Path] = field(default_factory=list)  # every file pair2labelpath names (extras too), sorted


def read_pair_masks(release: Release, gt: GroundTruth, ignore_extra_labels: bool = False) -> PairMasks:
    """Rasterise the label of every (query, easy-or-hard image) pair of the release.

    The labelled pairs get their mask (``masks``) and their label file's shapes as released (``shapes``:
    ``Label.shapes``, the same list for pairs that share a file).
    Errors (ReleaseError) for anything that would make a wrong mask; the report
    lists what is kept but worth knowing: positives without a label (null mask),
    polygons clipped to the image (the mask is cut at the image's edges), rectangles and
    circles filled, empty masks, ignored extra label entries, and label files whose shapes
    carry several ``label`` names (all merged into the mask: the release's names are not
    known, so they are listed, not chosen from).
    """
    pair2label = load_pair2label(release.pair2label_path)
    positives = {(q, i) for q in range(len(gt.query_names)) for i in gt.easy[q] + gt.hard[q]}
    report = {"unlabelled_positives": [], "clipped": [], "filled_shapes": [], "empty_masks": [],
              "ignored_label_entries": [], "label_files_with_several_labels": []}
    for (q, i), rel in sorted(pair2label.items()):
        if (q, i) not in positives:
            where = f"{release.pair2label_path}: entry '{q}_{i}' ({rel})"
            if not (0 <= q < len(gt.query_names) and 0 <= i < len(gt.index_names)):
                raise ReleaseError(f"{where}: unknown query or index id")
            if not ignore_extra_labels:
                raise ReleaseError(f"{where}: labels a pair that is not an easy/hard positive of query {q} "
                                   "(pass ignore_extra_labels=True to skip such entries)")
            report["ignored_label_entries"].append({"query_id": q, "index_id": i, "label": rel})

    paths = {rel: release.label_path(rel) for rel in set(pair2label.values())}  # many pairs share a label file
    labels: dict[Path, Label] = {}
    rles: dict[tuple[Path, int, int], dict] = {}
    out, shapes = {}, {}
    for q, i in bar(sorted(positives), desc="reading labels", unit="pair"):
        rel = pair2label.get((q, i))
        if rel is None:
            report["unlabelled_positives"].append({"query_id": q, "index_id": i, "index_name": gt.index_names[i]})
            continue
        height, width = release.images.size(gt.index_names[i])
        path = paths[rel]
        where = f"{path} (pair {q}_{i}, image {gt.index_names[i]})"
        if path not in labels:
            try:
                labels[path] = read_label(path)
            except ReleaseError as err:
                raise ReleaseError(f"{err} (pair {q}_{i})") from None
            if len(labels[path].names) > 1:
                report["label_files_with_several_labels"].append(
                    {"query_id": q, "index_id": i, "label": rel, "labels": labels[path].names})
        label = labels[path]
        if label.height is not None and (label.height, label.width) != (height, width):
            raise ReleaseError(f"{where}: label is for a {label.width}x{label.height} image, "
                               f"the image is {width}x{height} (after EXIF orientation)")
        key = (path, height, width)
        if key not in rles:
            for points in label.polygons:  # "points": how many of its vertices lie outside the image
                outside = int(((points < 0) | (points > [width, height])).any(axis=1).sum())
                if outside:
                    report["clipped"].append({"query_id": q, "index_id": i, "label": rel, "points": outside})
            report["filled_shapes"] += [{"query_id": q, "index_id": i, "label": rel, "shape": s} for s in label.filled]
            rles[key] = geometry.rasterise(label.polygons, height, width)
            if masklib.area(rles[key]) == 0:
                report["empty_masks"].append({"query_id": q, "index_id": i, "label": rel})
        out[q, i] = rles[key]
        shapes[q, i] = label.shapes
    report["counts"] = {
        "positive_pairs": len(positives),
        "labelled_pairs": len(out),
        "label_files": len(labels),
        **{k: len(v) for k, v in report.items() if isinstance(v, list)},
    }
    return PairMasks(out, report, shapes, sorted(set(paths.values())))


# ---------------------------------------------------------------- images
def verify_images(release: Release, gt: GroundTruth, names=None, progress: bool = True) -> None:
    """Read (archives: once) and decode every image of ``names`` (default: all the gnd lists); one
    error naming each missing or corrupt image with what it is for the queries. Images of the
    archives the gnd does not list are ignored (counted in ``release.images.unlisted``)."""
    images = release.images
    names = gt.index_names + gt.query_names if names is None else list(names)
    if images.verified >= set(names):
        return
    missing = images.load(names, progress)
    problems = {name: f"{name}.jpg: not in {images.describe()}" for name in missing}
    problems.update(images.check([n for n in names if n not in problems], progress))
    if problems:  # one line, every image named (up to 20) with what it is for the queries
        items = [f"{problem} [{_role(gt, name)}]" for name, problem in sorted(problems.items())]
        shown = "; ".join(items[:20]) + (f"; ... and {len(items) - 20} more" if len(items) > 20 else "")
        raise ReleaseError(f"{len(problems)} of the {len(names)} images the ground truth lists are missing or "
                           f"corrupt: {shown}")
    images.verified |= set(names)


def _role(gt: GroundTruth, name: str) -> str:
    """What an image is for the benchmark's queries, for error messages."""
    if name in gt.query_names:
        return f"query image of query {gt.query_names.index(name)}"
    i = gt.index_names.index(name)
    roles = [f"{kind} of {len(queries)} queries ({', '.join(map(str, queries[:5]))}{', ...' if len(queries) > 5 else ''})"
             for kind, lists in (("positive", [e + h for e, h in zip(gt.easy, gt.hard)]), ("junk", gt.junk))
             if (queries := [q for q, ids in enumerate(lists) if i in ids])]
    return f"index image {i}: " + ("; ".join(roles) if roles else "listed for no query")
