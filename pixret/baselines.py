"""Reference pixel-retrieval baselines: a ranking of the database and a mask per (query, image).

They take the dataset's tables (``queries`` and ``index`` configs, and for the
oracle a ``pairs`` split), so they run on the real benchmarks as on the demo:

- ``oracle``: ground-truth masks and revisitop order (positives, then junk, then the rest);
- ``whole_image``: rank by a global colour descriptor, predict the whole image;
- ``box_transfer``: same ranking, predict the query box at the same relative place;
- ``matcher``: Harris corners with normalised patch descriptors at five query scales,
  mutual nearest neighbours, RANSAC homography; the query box projected by the
  homography is the mask, the inlier count ranks the database (in the spirit of
  the paper's SIFT+SP row, numpy only);
- ``sift_matcher``: the same with OpenCV's SIFT and findHomography (optional extra ``opencv``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pixret import geometry
from pixret import masks as masklib


@dataclass
class BaselineResult:
    name: str
    ranks: np.ndarray  # (num_queries, num_index) index ids, best first
    predictions: dict  # {(query_id, index_id): {"mask": RLE or None, "bbox": None}}, pairs with a prediction

    def save(self, folder) -> None:
        """ranks.npy and predictions.json (COCO-results style), as ``pixret evaluate`` and ``show`` read them."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "ranks.npy", self.ranks)
        entries = [{"query_id": q, "index_id": i, "segmentation": p["mask"]}
                   for (q, i), p in sorted(self.predictions.items()) if p["mask"] is not None]
        (folder / "predictions.json").write_text(json.dumps(entries))


def _masks(pairs) -> dict:
    """The prediction dict of (query_id, index_id, mask) triples, masks that are None left out."""
    return {(int(q), int(i)): {"mask": mask, "bbox": None} for q, i, mask in pairs if mask is not None}


# ---------------------------------------------------------------- ranking by a global descriptor
def colour_descriptor(image: Image.Image, bins: int = 6) -> np.ndarray:
    """Hellinger-normalised RGB histogram: a global descriptor for ranking."""
    pixels = np.asarray(image.convert("RGB").resize((64, 48)), np.int64) * bins // 256
    codes = (pixels[..., 0] * bins + pixels[..., 1]) * bins + pixels[..., 2]
    hist = np.bincount(codes.reshape(-1), minlength=bins ** 3).astype(float)
    hist = np.sqrt(hist / hist.sum())
    return hist


def global_ranks(queries, index, progress=None) -> np.ndarray:
    database = np.stack([colour_descriptor(row["image"]) for row in _progress(index, progress, "index descriptors")])
    crops = np.stack([colour_descriptor(geometry.query_crop(row["image"], row["bbox"])) for row in queries])
    return np.argsort(-(crops @ database.T), axis=1, kind="stable")


def _progress(rows, progress, desc):
    return progress(rows, desc=desc) if progress else rows


# ---------------------------------------------------------------- baselines
def oracle(queries, index, split) -> BaselineResult:
    """Ground-truth masks; positives first, then junk, then everything else (by id)."""
    num_queries, num_index = len(queries), len(index)
    first = [[] for _ in range(num_queries)]
    second = [[] for _ in range(num_queries)]
    truth = []
    for q, i, positive, mask in zip(split["query_id"], split["index_id"], split["positive"], split["mask"]):
        (first if positive else second)[q].append(i)
        if positive:
            truth.append((q, i, mask))
    ranks = np.empty((num_queries, num_index), np.int64)
    for q in range(num_queries):
        head = first[q] + second[q]
        rest = np.setdiff1d(np.arange(num_index), head)
        ranks[q] = np.concatenate([np.asarray(head, np.int64), rest])
    return BaselineResult("oracle", ranks, _masks(truth))


def whole_image(queries, index, ranks=None, progress=None) -> BaselineResult:
    ranks = global_ranks(queries, index, progress) if ranks is None else ranks
    full = [masklib.encode(np.ones((row["height"], row["width"]), np.uint8)) for row in index]
    return BaselineResult("whole image", ranks, _masks((q, i, mask) for q in range(len(queries))
                                                       for i, mask in enumerate(full)))


def box_transfer(queries, index, ranks=None, progress=None) -> BaselineResult:
    """The query box, at the same relative place and size, in every image."""
    ranks = global_ranks(queries, index, progress) if ranks is None else ranks
    sizes = [(row["height"], row["width"]) for row in index]
    out = []
    for q, row in enumerate(queries):
        qw, qh = row["image"].size
        x, y, w, h = row["bbox"]
        rel = (x / qw, y / qh, (x + w) / qw, (y + h) / qh)
        out += [(q, i, geometry.box_mask((rel[0] * W, rel[1] * H, rel[2] * W, rel[3] * H), H, W))
                for i, (H, W) in enumerate(sizes)]
    return BaselineResult("query-box transfer", ranks, _masks(out))


# ---------------------------------------------------------------- local-feature matcher
PATCH = 16
QUERY_SCALES = (1.0, 0.8, 0.64, 0.5, 0.4)
MIN_INLIERS = 8


def gray(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), np.float32) / 255.0


def _smooth(a: np.ndarray, sigma: float) -> np.ndarray:
    radius = int(3 * sigma)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    a = np.apply_along_axis(np.convolve, 0, a, kernel, mode="same")
    return np.apply_along_axis(np.convolve, 1, a, kernel, mode="same")


def features(image: np.ndarray, max_points: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Harris corners and 64-d normalised patch descriptors: (points Nx2 as x, y; descriptors Nx64)."""
    gy, gx = np.gradient(_smooth(image, 1.0))
    xx, yy, xy = _smooth(gx * gx, 1.5), _smooth(gy * gy, 1.5), _smooth(gx * gy, 1.5)
    response = xx * yy - xy * xy - 0.05 * (xx + yy) ** 2
    half = PATCH // 2
    response[:half + 1] = response[-half - 1:] = 0
    response[:, :half + 1] = response[:, -half - 1:] = 0
    window = np.lib.stride_tricks.sliding_window_view(np.pad(response, 2), (5, 5)).max(axis=(2, 3))
    peaks = (response == window) & (response > 1e-6)
    ys, xs = np.nonzero(peaks)
    order = np.argsort(-response[ys, xs])[:max_points]
    ys, xs = ys[order], xs[order]
    offsets = np.arange(-half, half)
    patches = image[ys[:, None, None] + offsets[None, :, None], xs[:, None, None] + offsets[None, None, :]]
    patches = patches.reshape(len(ys), half, 2, half, 2).mean(axis=(2, 4)).reshape(len(ys), half * half)
    patches = patches - patches.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(patches, axis=1, keepdims=True)
    keep = norms[:, 0] > 1e-3
    return np.stack([xs, ys], 1)[keep].astype(float), (patches / np.maximum(norms, 1e-6))[keep]


def query_features(crop: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """Features of the query crop at several scales, in crop coordinates."""
    points, descs = [], []
    for scale in QUERY_SCALES:
        size = (max(PATCH + 4, round(crop.width * scale)), max(PATCH + 4, round(crop.height * scale)))
        p, d = features(gray(crop.resize(size, Image.BILINEAR)), max_points=250)
        points.append(p / scale)
        descs.append(d)
    return np.concatenate(points), np.concatenate(descs)


def match(desc_a: np.ndarray, desc_b: np.ndarray) -> np.ndarray:
    """Mutual nearest neighbours: (M, 2) index pairs. No ratio test: facades repeat their
    windows, so the second-best match is often as good as the best; RANSAC sorts them out."""
    if len(desc_a) == 0 or len(desc_b) == 0:
        return np.zeros((0, 2), np.int64)
    similarity = desc_a @ desc_b.T
    best = similarity.argmax(axis=1)
    ok = similarity.argmax(axis=0)[best] == np.arange(len(desc_a))
    return np.stack([np.flatnonzero(ok), best[ok]], 1)


def ransac(src: np.ndarray, dst: np.ndarray, rng, iterations: int = 300, tolerance: float = 5.0):
    """(H, inlier mask) of the best homography src -> dst, or (None, empty) with too few matches."""
    if len(src) < MIN_INLIERS:
        return None, np.zeros(len(src), bool)
    # 4 distinct matches per iteration, all iterations at once: the 4 smallest of uniform keys are a uniform 4-subset
    # (one Generator.choice per iteration was half of the demo's matcher)
    samples = rng.random((iterations, len(src))).argpartition(3, axis=1)[:, :4]
    hs = geometry.homographies(src[samples], dst[samples])
    errors = np.linalg.norm(geometry.project(hs, src) - dst[None], axis=2)
    inliers = errors < tolerance
    best = inliers.sum(axis=1).argmax()
    keep = inliers[best]
    if keep.sum() < MIN_INLIERS:
        return None, keep
    h = geometry.homographies(src[keep][None], dst[keep][None])[0]
    keep = np.linalg.norm(geometry.project(h, src) - dst, axis=1) < tolerance
    return h, keep


def matcher(queries, index, progress=None, seed: int = 0) -> BaselineResult:
    """Harris + patch descriptors + numpy RANSAC: rank by inliers, project the query box as the mask."""
    rng = np.random.default_rng(seed)

    def estimate(query, image):
        (q_points, q_descs), (points, descs) = query, image
        pairs = match(q_descs, descs)
        if not len(pairs):
            return None, 0
        h, inliers = ransac(q_points[pairs[:, 0]], points[pairs[:, 1]], rng)
        return h, int(inliers.sum())

    return verified_matching("matcher (Harris + RANSAC)", queries, index, query_features,
                             lambda image: features(gray(image)), estimate, progress)


def sift_matcher(queries, index, progress=None, ratio: float = 0.8) -> BaselineResult:
    """OpenCV SIFT, ratio test and cv2.findHomography RANSAC (the paper's SIFT+SP, roughly).

    """
    try:
        import cv2
    except ImportError:
        raise ImportError("the SIFT baseline needs OpenCV: pip install opencv-python-headless") from None
    sift = cv2.SIFT_create()
    bf = cv2.BFMatcher(cv2.NORM_L2)

    def describe(image):
        points, descs = sift.detectAndCompute(np.asarray(image.convert("L")), None)
        return np.array([p.pt for p in points], np.float32).reshape(-1, 2), descs

    def estimate(query, image):
        (q_points, q_descs), (points, descs) = query, image
        if q_descs is None or descs is None or len(q_descs) < 2 or len(descs) < 2:
            return None, 0
        good = [m for m, n in bf.knnMatch(q_descs, descs, k=2) if m.distance < ratio * n.distance]
        if len(good) < MIN_INLIERS:
            return None, 0
        src = q_points[[m.queryIdx for m in good]]
        dst = points[[m.trainIdx for m in good]]
        h, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 5.0)
        count = 0 if inliers is None else int(inliers.sum())
        return (h if h is not None and count >= MIN_INLIERS else None), count

    return verified_matching("SIFT + RANSAC (OpenCV)", queries, index, describe, describe, estimate, progress)


def verified_matching(name, queries, index, describe_query, describe_index, estimate, progress=None):
    """The shared frame of the matchers: describe every image once, estimate a homography
    query crop -> image for every pair, rank by inlier count (the global colour descriptor
    orders images without a verified match) and project the query box as the mask."""
    database = [describe_index(row["image"]) for row in _progress(index, progress, "index features")]
    fallback = global_ranks(queries, index)
    sizes = [(row["height"], row["width"]) for row in index]
    ranks = np.empty((len(queries), len(index)), np.int64)
    out = []
    for q, row in enumerate(_progress(queries, progress, f"matching queries ({name})")):
        crop = geometry.query_crop(row["image"], row["bbox"])
        query = describe_query(crop)
        corners = np.array([[0, 0], [crop.width, 0], [crop.width, crop.height], [0, crop.height]], float)
        scores = np.zeros(len(index))
        for i, image in enumerate(database):
            h, inliers = estimate(query, image)
            if h is not None:  # only a verified match scores and has a mask; the rest keep the fallback order
                scores[i] = inliers
                out.append((q, i, _projected_box(np.asarray(h, float), corners, *sizes[i])))
        order_of_fallback = np.empty(len(index))
        order_of_fallback[fallback[q]] = np.arange(len(index))
        ranks[q] = np.lexsort((order_of_fallback, -scores))
    return BaselineResult(name, ranks, _masks(out))


def _projected_box(h: np.ndarray, corners: np.ndarray, height: int, width: int):
    """The query box mapped by h and clipped to the image, as an RLE (None if degenerate)."""
    polygon = geometry.project(h, corners)
    if not np.isfinite(polygon).all():
        return None
    clipped = geometry.clip_polygon(polygon, width, height)
    return geometry.rasterise([clipped], height, width) if len(clipped) >= 3 else None
