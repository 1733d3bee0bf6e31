"""pixret export-coco: the ground truth as COCO instance-segmentation JSON, one file per protocol.

    pixret export-coco --dataset DATASET --output coco/ [--protocols easy medium hard]

images = the index images (id = index_id, file_name, width, height); one category
"target"; annotations = the protocol's positive pairs, each with its RLE mask, area,
bbox and the attributes query_id and difficulty. A top-level "queries" list gives each
query's name and crop bbox. Files load with pycocotools' COCO class.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path


from pixret import masks, outputs
from pixret.dataset import open_dataset
from pixret.progress import bar

CATEGORY = {"id": 1, "name": "target", "supercategory": "landmark"}


def add_arguments(parser) -> None:
    parser.add_argument("--dataset", required=True, help="built dataset folder or Hub id (owner/name)")
    parser.add_argument("--output", required=True, type=Path, help="folder for <protocol>.json")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an earlier `pixret export-coco` output (only a folder this command wrote)")
    parser.add_argument("--protocols", nargs="+", default=["easy", "medium", "hard"],
                        choices=["easy", "medium", "hard"])


def coco_dict(split, index, queries, protocol: str) -> tuple[dict, int]:
    """The COCO document of one protocol split, and how many positives had no mask (left out)."""
    images = [{"id": int(i), "file_name": f"{name}.jpg", "width": int(w), "height": int(h)}
              for i, name, w, h in zip(index["index_id"], index["name"], index["width"], index["height"])]
    rows = [row for row in bar(split, desc=f"{protocol} annotations") if row["positive"]]
    labelled = [row for row in rows if row["mask"] is not None]
    areas = masks.areas([row["mask"] for row in labelled])  # one check of every mask, not one per row
    annotations = [{
        "id": k + 1, "image_id": row["index_id"], "category_id": CATEGORY["id"], "segmentation": row["mask"],
        "area": int(area), "bbox": row["bbox"], "iscrowd": 0,
        "attributes": {"query_id": row["query_id"], "difficulty": row["difficulty"]},
    } for k, (row, area) in enumerate(zip(labelled, areas))]
    unlabelled = len(rows) - len(labelled)
    return {
        "info": {"description": f"pixel retrieval ground truth, {protocol} protocol", "version": "1.0"},
        "images": images, "categories": [CATEGORY], "annotations": annotations,
        "queries": [{"query_id": q, "name": n, "bbox": b} for q, n, b in
                    zip(queries["query_id"], queries["name"], queries["bbox"])],
    }, unlabelled


def export(dataset: str, output, protocols=("easy", "medium", "hard"), overwrite: bool = False) -> list[Path]:
    data = open_dataset(dataset)
    index = data.load("index", "test", ["index_id", "name", "width", "height"])  # not the image bytes
    queries = data.load("queries", "test", ["query_id", "name", "bbox"])
    splits = {protocol: data.split(protocol) for protocol in protocols}
    with outputs.staged_folder(output, overwrite, command="export-coco",
                               inputs=[data.spec if data.local else None]) as tmp:
        for protocol, split in splits.items():
            document, unlabelled = coco_dict(split, index, queries, protocol)
            if unlabelled:
                warnings.warn(f"{protocol}: {unlabelled} positive pairs have no mask and are not exported",
                              stacklevel=2)
            (tmp / f"{protocol}.json").write_text(json.dumps(document))
    return [Path(output) / f"{protocol}.json" for protocol in protocols]


def run(args) -> int:
    for path in export(args.dataset, args.output, args.protocols, args.overwrite):
        print(f"wrote {path}")
    return 0
