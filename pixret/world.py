"""A small synthetic pixel-retrieval world, written as an upstream release.

Procedural facades ("landmarks") are photographed into index images under
perspective warps, scale changes, lighting changes, partial occlusion and
clutter; queries show a whole facade or a part of it (variable granularity).
For each query and image the revisitop class follows from the degradation
actually applied:

- junk: the query's target region is barely visible (under 30% visible, or tiny);
- hard: strong perspective, small scale, heavy occlusion or strong lighting change;
- easy: everything else;

and the LabelMe polygon is the warped outline of the query's target region,
clipped to the image. Some labels (``DETAIL_EVERY``) also have a rectangle shape inside that polygon, as
annotators sometimes box a detail of the region: the labels then carry several shapes and a rectangle (the
dataset's ``shapes`` column shows them as released) while the mask, their union, stays the polygon's.
Everything is deterministic given the seed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from pixret import geometry, masks, synthetic

HARD_PERSPECTIVE = 0.12  # max corner displacement, as a fraction of the facade size
HARD_SCALE = 0.7
HARD_OCCLUSION = 0.25
HARD_GAIN = 0.35
JUNK_VISIBLE = 0.3
JUNK_AREA = 150  # pixels
DETAIL_EVERY = 3  # labels of pairs with (query id + index id) % DETAIL_EVERY == 0 get an inner rectangle
DETAIL_MARGIN = 2.0  # pixels between the rectangle and the polygon's edges
FACADE = (160, 120)  # facade texture width, height; query regions are in these coordinates
WHOLE_FACADE = [0, 0, FACADE[0], FACADE[1]]


@dataclass
class WorldConfig:
    seed: int = 0
    landmarks: int = 6
    views_per_landmark: int = 16  # index images showing a landmark
    background_images: int = 24  # index images showing none
    width: int = 320
    height: int = 240


@dataclass
class View:
    """One index image and what was done to the landmark in it."""

    name: str
    landmark: int | None
    scale: float = 0.0
    perspective: float = 0.0
    occlusion: float = 0.0  # fraction of the facade hidden by the occluder
    gain: float = 1.0
    homography: list = field(default_factory=list)  # facade -> image, 3x3
    occluder: list = field(default_factory=list)  # [x1, y1, x2, y2] drawn over the facade, or []


@dataclass
class Query:
    name: str
    landmark: int
    region: list  # [x1, y1, x2, y2] in facade coordinates
    bbx: list  # [x1, y1, x2, y2] in the query image


def facade(rng, width: int, height: int) -> Image.Image:
    """A building front: coloured wall with noise texture, a grid of windows, a door, a cornice."""
    wall = rng.integers(90, 220, 3)
    pixels = np.empty((height, width, 3))
    pixels[:] = wall
    pixels += rng.normal(0, 14, (height // 4 + 1, width // 4 + 1, 1)).repeat(4, 0).repeat(4, 1)[:height, :width]
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    rows, cols = int(rng.integers(2, 4)), int(rng.integers(3, 6))
    window = tuple(int(v) for v in rng.integers(10, 80, 3))
    frame = tuple(int(v) for v in (255 - wall) // 2 + 60)
    top = height * 0.18
    for r in range(rows):
        for c in range(cols):
            x0 = width * (c + 0.25) / cols
            y0 = top + (height * 0.55) * r / rows
            w, h = width * 0.5 / cols, height * 0.3 / rows
            draw.rectangle([x0 - 2, y0 - 2, x0 + w + 2, y0 + h + 2], fill=frame)
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=window)
            if rng.random() < 0.5:
                draw.line([x0 + w / 2, y0, x0 + w / 2, y0 + h], fill=frame, width=2)
    door_x = width * rng.uniform(0.35, 0.55)
    draw.rectangle([door_x, height * 0.75, door_x + width * 0.14, height - 1],
                   fill=tuple(int(v) for v in rng.integers(20, 120, 3)))
    draw.rectangle([0, 0, width - 1, height * 0.08], fill=frame)
    for _ in range(int(rng.integers(2, 5))):  # a few unique marks make each facade distinctive
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        size = rng.uniform(4, 10)
        draw.ellipse([x, y, x + size, y + size], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    return image


def background(rng, width: int, height: int) -> Image.Image:
    """Sky, ground and clutter."""
    sky = np.linspace(rng.uniform(150, 220), rng.uniform(90, 160), height)[:, None, None]
    tint = rng.uniform(0.8, 1.1, 3)
    pixels = (sky * tint).repeat(width, 1)
    horizon = int(height * rng.uniform(0.6, 0.8))
    pixels[horizon:] = rng.integers(60, 130, 3)
    pixels += rng.normal(0, 6, pixels.shape)
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
    clutter(rng, image, int(rng.integers(3, 8)))
    return image


def clutter(rng, image: Image.Image, count: int, max_size: float = 0.25) -> None:
    draw = ImageDraw.Draw(image)
    width, height = image.size
    for _ in range(count):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        w, h = rng.uniform(0.03, max_size) * width, rng.uniform(0.03, max_size) * height
        color = tuple(int(v) for v in rng.integers(0, 255, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x, y, x + w, y + h], fill=color)


def raster(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """A polygon's pixels as a bool array."""
    return masks.decode(geometry.rasterise([points], height, width)).astype(bool)


def render_view(rng, facade_image: Image.Image, config: WorldConfig, strength: str):
    """An index image of a facade; returns (image, View fields, occluder mask)."""
    fw, fh = facade_image.size
    width, height = config.width, config.height
    base = background(rng, width, height)
    hard = strength == "hard"
    scale = rng.uniform(0.45, 0.7) if hard and rng.random() < 0.4 else rng.uniform(0.75, 1.15)
    scale *= unit_scale(width, height)
    perspective = rng.uniform(0.13, 0.22) if hard and rng.random() < 0.6 else rng.uniform(0.0, 0.08)
    gain = rng.choice([rng.uniform(0.45, 0.6), rng.uniform(1.4, 1.6)]) if hard and rng.random() < 0.3 \
        else rng.uniform(0.85, 1.15)
    corners = np.array([[0, 0], [fw, 0], [fw, fh], [0, fh]], float)
    size = np.array([fw, fh]) * scale
    offset = np.array([rng.uniform(-0.1, 1.1) * (width - size[0]), rng.uniform(-0.05, 1.05) * (height - size[1])])
    jitter = rng.uniform(-1, 1, (4, 2)) * perspective * size
    target = corners * scale + offset + jitter
    h = geometry.homography(corners, target)
    inverse = np.linalg.inv(h)
    coeffs = (inverse / inverse[2, 2]).reshape(-1)[:8]
    lit = Image.fromarray((np.asarray(facade_image, float) * gain).clip(0, 255).astype(np.uint8))
    warped = lit.transform((width, height), Image.PERSPECTIVE, tuple(coeffs), Image.BILINEAR)
    alpha = Image.new("L", facade_image.size, 255).transform((width, height), Image.PERSPECTIVE, tuple(coeffs))
    base.paste(warped, (0, 0), alpha)
    facade_mask = raster(target, width, height)
    occluder = np.zeros((height, width), bool)
    shape = []
    if hard and rng.random() < 0.5 or rng.random() < 0.2:
        ys, xs = np.nonzero(facade_mask)
        if xs.size:
            box = [xs.min(), ys.min(), xs.max(), ys.max()]
            frac = rng.uniform(0.3, 0.6) if hard else rng.uniform(0.1, 0.2)
            w = (box[2] - box[0]) * frac
            x0 = rng.uniform(box[0] - w * 0.3, box[2] - w * 0.7)
            top = box[1] + rng.uniform(0, 0.3) * (box[3] - box[1])
            shape = [float(x0), float(top), float(x0 + w), float(height)]
            color = tuple(int(v) for v in rng.integers(20, 90, 3))
            ImageDraw.Draw(base).rectangle(shape, fill=color)
            occluder_image = Image.new("1", (width, height))
            ImageDraw.Draw(occluder_image).rectangle(shape, fill=1)
            occluder = np.asarray(occluder_image, bool)
    clutter(rng, base, int(rng.integers(0, 3)), max_size=0.08)
    base = base.filter(ImageFilter.GaussianBlur(0.6))
    occlusion = float((facade_mask & occluder).sum() / max(facade_mask.sum(), 1))
    return base, {"scale": float(scale), "perspective": float(perspective), "gain": float(gain),
                  "occlusion": occlusion, "homography": h.tolist(), "occluder": shape}, occluder


def classify(view: View, region: list, occluder: np.ndarray, width: int, height: int):
    """(revisitop class, clipped polygon) of a query region in a view, or (None, None) if absent."""
    x1, y1, x2, y2 = region
    polygon = geometry.project(np.asarray(view.homography), geometry.rectangle((x1, y1), (x2, y2)))
    clipped = geometry.clip_polygon(polygon, width, height)
    full = geometry.polygon_area(polygon)
    inside = raster(clipped, width, height)
    visible = float((inside & ~occluder).sum() / max(full, 1.0))
    if inside.sum() == 0:
        return None, None
    if visible < JUNK_VISIBLE or inside.sum() < JUNK_AREA:
        return "junk", clipped
    strong = (view.perspective > HARD_PERSPECTIVE or view.scale < HARD_SCALE * unit_scale(width, height)
              or view.occlusion > HARD_OCCLUSION or abs(view.gain - 1) > HARD_GAIN or visible < 0.75)
    return ("hard" if strong else "easy"), clipped


def inner_rectangle(polygon: np.ndarray, margin: float = DETAIL_MARGIN) -> np.ndarray | None:
    """Two opposite corners of an axis-aligned rectangle centred in a convex polygon, at least ``margin`` pixels
    inside each of its edges (the largest of the polygon's box scaled by 0.6, 0.5, ..., 0.2), or None."""
    polygon = np.asarray(polygon, float)
    if len(polygon) < 3:
        return None
    edges = np.roll(polygon, -1, axis=0) - polygon
    lengths = np.linalg.norm(edges, axis=1)
    keep = lengths > 1e-9
    x, y = polygon[:, 0], polygon[:, 1]
    orientation = np.sign(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))  # + counter-clockwise in (x, y)
    if orientation == 0 or not keep.any():
        return None
    center = polygon.mean(axis=0)
    half = (polygon.max(axis=0) - polygon.min(axis=0)) / 2
    for scale in (0.6, 0.5, 0.4, 0.3, 0.2):
        corners = center + np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half * scale
        relative = corners[:, None, :] - polygon[None, keep]  # corner x edge
        cross = edges[keep][None, :, 0] * relative[..., 1] - edges[keep][None, :, 1] * relative[..., 0]
        distance = orientation * cross / lengths[keep]  # to each edge's line, > 0 inside
        if (distance >= margin).all():
            return np.round(corners[[0, 2]], 2)
    return None


def label_shapes(polygon: np.ndarray, detail: bool, width: int, height: int) -> list:
    """The shapes of a label: the polygon and, when ``detail``, a rectangle inside it if one fits without
    changing the mask (checked: the demo's figures do not depend on it)."""
    corners = inner_rectangle(polygon) if detail else None
    if corners is None:
        return [polygon]
    alone = geometry.rasterise([polygon], height, width)
    both = geometry.rasterise([polygon, geometry.rectangle(*corners)], height, width)
    if alone["counts"] != both["counts"]:
        return [polygon]
    return [polygon, {"shape_type": "rectangle", "points": corners.tolist()}]


def unit_scale(width: int, height: int) -> float:
    """The facade's nominal scale in an index image; View.scale is relative to it times a factor."""
    return min(width / FACADE[0], height / FACADE[1]) * 0.8


def make_world(root, config: WorldConfig | None = None, benchmark: str = "proxford", progress=None) -> dict:
    """Write the release under ``root``; return {"gnd", "views", "queries", "labels"} as plain data."""
    config = config or WorldConfig()
    rng = np.random.default_rng(config.seed)
    root = Path(root)
    width, height = config.width, config.height
    fw, fh = FACADE
    facades = [facade(rng, fw, fh) for _ in range(config.landmarks)]
    # queries: the whole facade, and one or two parts of it
    queries: list[Query] = []
    for landmark in range(config.landmarks):
        regions = [list(WHOLE_FACADE)]
        for _ in range(int(rng.integers(1, 3))):
            x1, y1 = rng.uniform(0, 70), rng.uniform(0, 50)
            regions.append([float(x1), float(y1), float(x1 + rng.uniform(60, 90)), float(y1 + rng.uniform(50, 70))])
        for region in regions:
            name = f"query_l{landmark}_{len(queries):02d}"
            image = background(rng, width, height)
            scale = min(width / fw, height / fh) * 0.85
            offset = np.array([(width - fw * scale) / 2, (height - fh * scale) / 2])
            image.paste(facades[landmark].resize((round(fw * scale), round(fh * scale)), Image.BILINEAR),
                        tuple(int(v) for v in offset))
            x1, y1, x2, y2 = region
            bbx = [float(v) for v in (offset[0] + x1 * scale, offset[1] + y1 * scale,
                                      offset[0] + x2 * scale, offset[1] + y2 * scale)]
            synthetic.write_jpeg(root, benchmark, name, np.asarray(image))
            queries.append(Query(name, landmark, region, bbx))
    # index images: several views of each landmark, and background only
    plan = [(landmark, "hard" if k % 3 == 2 else "easy") for landmark in range(config.landmarks)
            for k in range(config.views_per_landmark)]
    plan += [(None, "")] * config.background_images
    order = rng.permutation(len(plan))
    views: list[View] = []
    occluders = []
    steps = progress(order, desc="rendering index images") if progress else order
    for n, k in enumerate(steps):
        landmark, strength = plan[k]
        name = f"index_{n:04d}"
        if landmark is None:
            image, fields, occluder = background(rng, width, height), {}, np.zeros((height, width), bool)
        else:
            image, fields, occluder = render_view(rng, facades[landmark], config, strength)
        synthetic.write_jpeg(root, benchmark, name, np.asarray(image))
        views.append(View(name, None if landmark is None else int(landmark), **fields))
        occluders.append(occluder)
    gnd, labels = [], {}
    for q, query in enumerate(queries):
        lists = {"easy": [], "hard": [], "junk": []}
        for i, view in enumerate(views):
            if view.landmark != query.landmark:
                continue
            kind, polygon = classify(view, query.region, occluders[i], width, height)
            if kind is None:
                continue
            lists[kind].append(i)
            if kind != "junk":
                rel = f"labels/{query.name}/{view.name}.json"
                shapes = label_shapes(polygon, (q + i) % DETAIL_EVERY == 0, width, height)
                synthetic.write_label(root, rel, shapes, height, width, f"{view.name}.jpg")
                labels[q, i] = rel
        gnd.append({**lists, "bbx": query.bbx})
    ground_truth = {"imlist": [v.name for v in views], "qimlist": [q.name for q in queries], "gnd": gnd}
    synthetic.write_gnd(root, benchmark, ground_truth)
    synthetic.write_pair2label(root, benchmark, labels)
    world = {"config": asdict(config), "views": [asdict(v) for v in views], "queries": [asdict(q) for q in queries]}
    (root / "world.json").write_text(json.dumps(world))
    return {**world, "gnd": ground_truth, "labels": labels}
