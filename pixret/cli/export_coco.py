"""pixret export-coco: the ground truth as COCO instance-segmentation JSON, one file per protocol.

    pixret export-coco --dataset DATASET --output coco/ [--protocols easy medium hard] [--segmentation polygons]

images = the index images (id = index_id, file_name, width, height); one category
"target"; annotations = the protocol's positive pairs, each with its segmentation, area,
bbox and the attributes query_id and difficulty. A top-level "queries" list gives each
query's name and crop bbox. Files load with pycocotools' COCO class.

--segmentation rle (default): each pair's mask as a COCO compressed RLE, exact (the dataset's
``mask``: each shape filled by its type, cut at the image's edges).
--segmentation polygons: each pair's LabelMe shapes as released (the dataset's ``shapes``) as COCO
polygons, one flat [x1, y1, x2, y2, ...] list per shape; a rectangle as its 4 corners, a circle as the
polygon the mask fills for it; area and bbox as pycocotools fills these polygons (COCO.annToMask),
which is the RLE's mask for shapes inside their image. See ``pixret.coco``.
"""

from __future__ import annotations

from pathlib import Path

from pixret.coco import PROTOCOLS, SEGMENTATIONS, export

SEGMENTATION_HELP = ("rle (default): each pair's mask as COCO compressed RLE, exact; polygons: the pair's LabelMe "
                     "shapes as released as COCO polygons, one [x1, y1, x2, y2, ...] list per shape (a rectangle "
                     "as its 4 corners, a circle as the polygon the mask fills), area and bbox as pycocotools "
                     "fills them")


def add_arguments(parser) -> None:
    parser.add_argument("--dataset", required=True, help="built dataset folder or Hub id (owner/name)")
    parser.add_argument("--output", required=True, type=Path, help="folder for <protocol>.json")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an earlier `pixret export-coco` output (only a folder this command wrote)")
    parser.add_argument("--protocols", nargs="+", default=list(PROTOCOLS), choices=PROTOCOLS)
    parser.add_argument("--segmentation", default="rle", choices=SEGMENTATIONS, help=SEGMENTATION_HELP)


def run(args) -> int:
    for path in export(args.dataset, args.output, args.protocols, args.overwrite, args.segmentation):
        print(f"wrote {path}")
    return 0
