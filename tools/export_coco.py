#!/usr/bin/env python
"""Export the ground truth as COCO instance-segmentation JSON, one file per protocol.

    python tools/export_coco.py --dataset DATASET --output coco/ [--protocols easy medium hard]

images = the index images (id = index_id, file_name, width, height); one category
"target"; annotations = the protocol's positive pairs, each with its RLE mask, area,
bbox and the attributes query_id and difficulty. A top-level "queries" list gives each
query's name and crop bbox. Files load with pycocotools' COCO class.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import datasets
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from pixret import masks  # noqa: E402

CATEGORY = {"id": 1, "name": "target", "supercategory": "landmark"}


def coco_dict(split, index, queries, protocol: str) -> tuple[dict, int]:
    """The COCO document of one protocol split, and how many positives had no mask (left out)."""
    images = [{"id": int(i), "file_name": f"{name}.jpg", "width": int(w), "height": int(h)}
              for i, name, w, h in zip(index["index_id"], index["name"], index["width"], index["height"])]
    annotations, unlabelled = [], 0
    for row in tqdm(split, desc=f"{protocol} annotations", leave=False):
        if not row["positive"]:
            continue
        if row["mask"] is None:
            unlabelled += 1
            continue
        annotations.append({
            "id": len(annotations) + 1, "image_id": row["index_id"], "category_id": CATEGORY["id"],
            "segmentation": row["mask"], "area": masks.area(row["mask"]), "bbox": row["bbox"], "iscrowd": 0,
            "attributes": {"query_id": row["query_id"], "difficulty": row["difficulty"]},
        })
    return {
        "info": {"description": f"pixel retrieval ground truth, {protocol} protocol", "version": "1.0"},
        "images": images, "categories": [CATEGORY], "annotations": annotations,
        "queries": [{"query_id": q, "name": n, "bbox": b} for q, n, b in
                    zip(queries["query_id"], queries["name"], queries["bbox"])],
    }, unlabelled


def export(dataset: str, output, protocols=("easy", "medium", "hard")) -> list[Path]:
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    index = datasets.load_dataset(dataset, "index", split="test")
    index = index.select_columns(["index_id", "name", "width", "height"])
    queries = datasets.load_dataset(dataset, "queries", split="test").select_columns(["query_id", "name", "bbox"])
    written = []
    for protocol in protocols:
        document, unlabelled = coco_dict(datasets.load_dataset(dataset, split=protocol), index, queries, protocol)
        if unlabelled:
            print(f"warning: {protocol}: {unlabelled} positive pairs have no mask and are not exported",
                  file=sys.stderr)
        path = output / f"{protocol}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(document))
        tmp.replace(path)  # never a half-written file
        written.append(path)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="built dataset folder or Hub id")
    parser.add_argument("--output", required=True, type=Path, help="folder for <protocol>.json")
    parser.add_argument("--protocols", nargs="+", default=["easy", "medium", "hard"],
                        choices=["easy", "medium", "hard"])
    args = parser.parse_args(argv)
    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    for path in export(args.dataset, args.output, args.protocols):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
