"""The ground truth of a built dataset as COCO instance-segmentation documents, one per protocol.

images = the index images (id = index_id, file_name, width, height); one category "target";
annotations = the protocol's labelled positive pairs, each with its segmentation, area, bbox and the
attributes query_id and difficulty; a top-level "queries" list gives each query's name and crop bbox.
The documents load with pycocotools' COCO class. Two kinds of segmentation (``SEGMENTATIONS``):

- ``"rle"`` (default): the pair's ``mask``, a compressed RLE, exact (each shape filled by its type and
  cut at the image's edges); area and bbox are the mask's.
- ``"polygons"``: the pair's ``shapes`` as COCO polygons, one flat [x1, y1, x2, y2, ...] list per shape in
  the label file's order, the points as released (not rounded); a rectangle as its 4 corners and a circle
  as the polygon the mask fills for it (``pixret.geometry.rectangle`` / ``circle``). area and bbox are
  those of pycocotools' fill of these polygons (what ``COCO.annToMask`` gives). For shapes inside their
  image that fill is the RLE's mask; where a shape leaves the image pycocotools' fill can differ from the
  exact mask along the image's edges. Parts of a shape farther than one image size outside the image are
  clipped there (a warning counts them): pycocotools' cost grows with the coordinates, and the part inside
  the image is unchanged; a pair left with no polygon (its shapes all lie that far out: an empty mask) is
  left out, with a warning.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
from pycocotools import mask as cocomask

from pixret import geometry, masks, outputs
from pixret.dataset import DatasetError, open_dataset
from pixret.metric.core.benchmarks import PROTOCOLS
from pixret.metric.core.polygons import clip_polygon
from pixret.progress import bar

CATEGORY = {"id": 1, "name": "target", "supercategory": "landmark"}
SEGMENTATIONS = ("rle", "polygons")


def coco_dict(split, index, queries, protocol: str, segmentation: str = "rle") -> tuple[dict, int]:
    """The COCO document of one protocol split (rows of the pairs config), and how many positives had no label
    (left out). ``index``: the index config's index_id, name, width, height; ``queries``: the queries config's
    query_id, name, bbox; ``segmentation``: one of ``SEGMENTATIONS`` (see the module's docstring)."""
    if segmentation not in SEGMENTATIONS:
        raise ValueError(f"segmentation must be one of {SEGMENTATIONS}, got {segmentation!r}")
    if segmentation == "polygons" and "shapes" not in split.column_names:
        raise DatasetError(f"segmentation='polygons' needs the pairs' shapes column, which the {protocol} split "
                           "lacks (a build by an older pixret: rebuild the dataset)")
    sizes = {int(i): (int(h), int(w)) for i, h, w in zip(index["index_id"], index["height"], index["width"])}
    images = [{"id": int(i), "file_name": f"{name}.jpg", "width": int(w), "height": int(h)}
              for i, name, w, h in zip(index["index_id"], index["name"], index["width"], index["height"])]
    rows = [(r, row) for r, row in enumerate(bar(split, desc=f"{protocol} annotations")) if row["positive"]]
    labelled = [(r, row) for r, row in rows if row["mask"] is not None]
    if segmentation == "rle":
        areas = masks.areas([row["mask"] for _, row in labelled])  # one check of every mask, not one per row
        parts = [(row["mask"], int(area), row["bbox"]) for (_, row), area in zip(labelled, areas)]
    else:
        kept, parts, clipped = [], [], 0
        for r, row in labelled:
            where = f"{protocol} row {r} (pair {row['query_id']}_{row['index_id']})"
            polygons, far = shape_polygons(row["shapes"], sizes[row["index_id"]], where)
            clipped += far
            if polygons:
                kept.append((r, row))
                parts.append((polygons, *polygon_area_bbox(polygons, sizes[row["index_id"]])))
        if clipped:
            warnings.warn(f"{protocol}: {clipped} shapes reach farther than one image size outside their image; "
                          "their polygons are clipped there (the part inside the image is unchanged)", stacklevel=2)
        if len(kept) < len(labelled):
            warnings.warn(f"{protocol}: {len(labelled) - len(kept)} labelled pairs have every shape farther than one "
                          "image size outside their image (an empty mask): no polygon is left, they are not "
                          "exported", stacklevel=2)
        labelled = kept
    annotations = [{
        "id": k + 1, "image_id": row["index_id"], "category_id": CATEGORY["id"], "segmentation": segment,
        "area": area, "bbox": box, "iscrowd": 0,
        "attributes": {"query_id": row["query_id"], "difficulty": row["difficulty"]},
    } for k, ((_, row), (segment, area, box)) in enumerate(zip(labelled, parts))]
    return {
        "info": {"description": f"pixel retrieval ground truth, {protocol} protocol", "version": "1.0"},
        "images": images, "categories": [CATEGORY], "annotations": annotations,
        "queries": [{"query_id": q, "name": n, "bbox": b} for q, n, b in
                    zip(queries["query_id"], queries["name"], queries["bbox"])],
    }, len(rows) - sum(row["mask"] is not None for _, row in rows)


def shape_polygons(shapes, size: tuple[int, int], where: str = "shapes") -> tuple[list[list[float]], int]:
    """A pair's ``shapes`` (the pairs config's column) as COCO polygons, one flat [x1, y1, ...] list per shape,
    and how many were clipped to one image size around the (height, width) image ``size``. A rectangle is its 4
    corners, a circle the polygon the mask fills; a shape the mask could not be made from is a DatasetError
    naming ``where``."""
    if not isinstance(shapes, list) or not shapes:
        raise DatasetError(f"{where}: a labelled pair without shapes")
    height, width = size
    bound = np.array([width, height], np.float64)
    out, clipped = [], 0
    for k, shape in enumerate(shapes):
        kind = shape.get("shape_type") if isinstance(shape, dict) else None
        try:
            points = np.asarray(shape.get("points") if isinstance(shape, dict) else None, np.float64)
        except (TypeError, ValueError):
            points = np.zeros(0)
        if points.ndim != 2 or points.shape[1:] != (2,) or not np.isfinite(points).all():
            raise DatasetError(f"{where}: shape {k} points must be finite [x, y] pairs")
        if kind in ("polygon", None):
            if len(points) < 3:
                raise DatasetError(f"{where}: shape {k} is a polygon of {len(points)} points (at least 3 needed)")
            polygon = points
        elif kind in ("rectangle", "circle"):
            if len(points) != 2:
                raise DatasetError(f"{where}: shape {k} is a {kind} of {len(points)} points (2 expected)")
            polygon = geometry.rectangle(*points) if kind == "rectangle" else geometry.circle(*points)
        else:
            raise DatasetError(f"{where}: shape {k} is a {kind!r}; only polygon, rectangle and circle shapes make "
                               "a COCO polygon")
        if (polygon < -bound).any() or (polygon > 2 * bound).any():
            polygon = clip_polygon(polygon, -bound, 2 * bound)
            clipped += 1
        if len(polygon) >= 3:  # a shape clipped away entirely (far outside its image) is dropped
            out.append(polygon.ravel().tolist())
    return out, clipped


def polygon_area_bbox(polygons: list[list[float]], size: tuple[int, int]) -> tuple[int, list[float]]:
    """(area, [x, y, w, h]) of COCO polygons as pycocotools fills them in a (height, width) image: what
    ``COCO.annToMask`` of an annotation with these polygons gives."""
    height, width = size
    if not polygons:
        return 0, [0.0, 0.0, 0.0, 0.0]
    rle = cocomask.merge(cocomask.frPyObjects(polygons, height, width))
    return int(cocomask.area(rle)), [float(v) for v in cocomask.toBbox(rle)]


def export(dataset: str, output, protocols=PROTOCOLS, overwrite: bool = False,
           segmentation: str = "rle") -> list[Path]:
    """Write ``output/<protocol>.json`` for each of ``protocols`` (``coco_dict``) from a built dataset (folder or
    Hub id); ``output``: a new folder, or with ``overwrite`` an earlier export's. Returns the files written."""
    if segmentation not in SEGMENTATIONS:
        raise ValueError(f"segmentation must be one of {SEGMENTATIONS}, got {segmentation!r}")
    data = open_dataset(dataset)
    index = data.load("index", "test", ["index_id", "name", "width", "height"])  # not the image bytes
    queries = data.load("queries", "test", ["query_id", "name", "bbox"])
    splits = {protocol: data.split(protocol) for protocol in protocols}
    with outputs.staged_folder(output, overwrite, command="export-coco",
                               inputs=[data.spec if data.local else None]) as tmp:
        for protocol, split in splits.items():
            document, unlabelled = coco_dict(split, index, queries, protocol, segmentation)
            if unlabelled:
                warnings.warn(f"{protocol}: {unlabelled} positive pairs have no mask and are not exported",
                              stacklevel=2)
            (tmp / f"{protocol}.json").write_text(json.dumps(document))
    return [Path(output) / f"{protocol}.json" for protocol in protocols]
