"""The rows of a built dataset's tables, as plain generator functions, with their features.

Configs (one table each):
- ``pairs`` (default), splits easy / medium / hard: one row per (query, index image) relation the
  revisitop protocol uses (its positives and its junk), with the pair's ground-truth mask as COCO RLE and
  its label's shapes as released (what the authors' evaluation fills);
- ``queries``, split test: the queries with full image, crop bbox and lists;
- ``index``, split test: the index images, row i = index id i;
- ``preview``, split test: pictures for the Hub's dataset viewer (which shows Image columns, not RLE): up to
  PREVIEW_PER_QUERY medium positives per query, each as the query's crop and the index image with its
  ground-truth mask tinted and outlined, small JPEGs. The benchmark's data is the other three.

``pixret.build`` writes them to Parquet itself; the ``datasets`` builder ``proxford_prparis`` is a thin
class over the same ``Tables``.
"""

from __future__ import annotations

import io
import itertools
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Iterator

import datasets
import pyarrow as pa
from PIL import Image

from pixret import geometry, report
from pixret.images import open_jpeg
from pixret.masks import boxes
from pixret.metric.core.benchmarks import CITATION, HOMEPAGE, PROTOCOLS
from pixret.metric.core.rle import rle_feature
from pixret.release import PairMasks, Release, ReleaseError, protocol_lists, read_pair_masks, verify_images

BBOX = datasets.List(datasets.Value("float32"))  # [x, y, w, h]
IDS = datasets.List(datasets.Value("int32"))
# The pair's LabelMe shapes as released, in file order (``release.read_label``): the type as the file gives it
# (null: none given, LabelMe's polygon) and the points as parsed, float64 (no rounding to float32: exact).
SHAPES = datasets.List({"shape_type": datasets.Value("string"),
                        "points": datasets.List(datasets.List(datasets.Value("float64"), length=2))})

FEATURES = {
    "pairs": datasets.Features({
        "query_id": datasets.Value("int32"),
        "index_id": datasets.Value("int32"),
        "query_name": datasets.Value("string"),
        "index_name": datasets.Value("string"),
        "difficulty": datasets.Value("string"),
        "positive": datasets.Value("bool"),
        "mask": rle_feature(),
        "bbox": BBOX,
        "shapes": SHAPES,
    }),
    "queries": datasets.Features({
        "query_id": datasets.Value("int32"),
        "name": datasets.Value("string"),
        "image": datasets.Image(),
        "bbox": BBOX,
        "easy": IDS,
        "hard": IDS,
        "junk": IDS,
    }),
    "index": datasets.Features({
        "index_id": datasets.Value("int32"),
        "name": datasets.Value("string"),
        "image": datasets.Image(),
        "width": datasets.Value("int32"),
        "height": datasets.Value("int32"),
    }),
    "preview": datasets.Features({
        "query_id": datasets.Value("int32"),
        "index_id": datasets.Value("int32"),
        "query_name": datasets.Value("string"),
        "index_name": datasets.Value("string"),
        "difficulty": datasets.Value("string"),
        "labelled": datasets.Value("bool"),  # false: a positive without a label, its picture has no overlay
        "query_crop": datasets.Image(),
        "index_image": datasets.Image(),  # the ground-truth mask tinted and outlined
    }),
}
SPLITS = {"pairs": PROTOCOLS, "queries": ("test",), "index": ("test",), "preview": ("test",)}
# Rows per Arrow table, and so per Parquet row group (pixret.build). With images, 100: the dataset viewer reads whole
# row groups and refuses to load more than 300 MB of them at once (its /rows "max_arrow_data_in_memory"); its own
# Parquet conversion of image datasets writes 100-row row groups. 100 preview rows are a few MB.
TABLE_ROWS = {"pairs": 20_000, "queries": 100, "index": 100, "preview": 100}
PREVIEW_PER_QUERY = 8
PREVIEW_SIDE = 256  # longest side of the preview's pictures, in pixels
PREVIEW_QUALITY = 85  # their JPEG quality


def dataset_info(benchmark: str, config: str, splits: datasets.SplitDict | None = None) -> datasets.DatasetInfo:
    """The DatasetInfo of one config (the build adds its splits' sizes)."""
    return datasets.DatasetInfo(description=f"{benchmark}: pixel retrieval benchmark, {config} table",
                                features=FEATURES[config], homepage=HOMEPAGE, citation=CITATION, config_name=config,
                                splits=splits)


class Tables:
    """The rows of one release's tables. The pairs' masks are read (and the report made) once, on first use."""

    def __init__(self, release: Release, ignore_extra_labels: bool = False):
        self.release, self.ignore_extra_labels = release, ignore_extra_labels
        self.gt = release.ground_truth

    @cached_property
    def pair_masks(self) -> PairMasks:
        gt = self.gt
        verify_images(self.release, gt, {gt.index_names[i] for q in range(len(gt.query_names))
                                         for i in gt.easy[q] + gt.hard[q]})
        return read_pair_masks(self.release, gt, self.ignore_extra_labels)

    @cached_property
    def preview_crops(self) -> dict[int, bytes]:
        """The preview's query pictures (``query_crops``: no label needed)."""
        verify_images(self.release, self.gt, self.gt.query_names)
        return query_crops(self.gt, self.release.images, list(preview_queries(self.gt)), self.release.images.workers)

    @cached_property
    def preview_index_images(self) -> dict[int, tuple]:
        """The preview's index images at its size (``preview_index_images``: no label needed)."""
        gt = self.gt
        verify_images(self.release, gt, {gt.index_names[i] for ids in preview_queries(gt).values() for i in ids})
        return preview_index_images(gt, self.release.images, workers=self.release.images.workers)

    @property
    def report(self) -> dict:
        """What the build reports about the labels (``pixret.release.read_pair_masks``)."""
        return self.pair_masks.report

    @cached_property
    def _bboxes(self) -> dict:
        pairs = list(self.pair_masks.masks)
        return dict(zip(pairs, boxes([self.pair_masks.masks[p] for p in pairs]).tolist()))  # once, not per split

    def rows(self, config: str, split: str) -> Iterator[dict]:
        """The rows of one split of one config, in order."""
        if split not in SPLITS[config]:
            raise ValueError(f"config {config!r} has no split {split!r}; its splits: {SPLITS[config]}")
        if config == "pairs":
            return pair_rows(self.gt, self.pair_masks.masks, self._bboxes, split, self.pair_masks.shapes)
        if config == "preview":
            masks = self.pair_masks.masks  # the positives' images are checked there
            return preview_rows(self.gt, masks, self.release.images, workers=self.release.images.workers,
                                crops=self.preview_crops, shown=self.preview_index_images)
        names = self.gt.query_names if config == "queries" else self.gt.index_names
        verify_images(self.release, self.gt, names)
        return (query_rows if config == "queries" else index_rows)(self.gt, self.release.images)

    def num_rows(self, config: str, split: str) -> int:
        """How many rows ``rows(config, split)`` gives (known before they are made)."""
        gt = self.gt
        if config == "pairs":
            return sum(len(positives) + len(junk) for positives, junk in
                       (protocol_lists(gt, split, q) for q in range(len(gt.query_names))))
        if config == "preview":
            return sum(len(preview_positives(gt.easy[q], gt.hard[q])) for q in range(len(gt.query_names)))
        return len(gt.query_names if config == "queries" else gt.index_names)

    def tables(self, config: str, split: str) -> Iterator[pa.Table]:
        """The rows of a split as Arrow tables of TABLE_ROWS rows (datasets' per-example encoding would be most
        of the build's time)."""
        rows, schema, size = self.rows(config, split), FEATURES[config].arrow_schema, TABLE_ROWS[config]
        try:
            while batch := list(itertools.islice(rows, size)):
                yield pa.Table.from_pylist(batch, schema=schema)
        finally:
            if hasattr(rows, "close"):  # closed early (a failed build): the rows' generator too, and its pool
                rows.close()


def pair_rows(gt, masks: dict, bboxes: dict, protocol: str, shapes: dict) -> Iterator[dict]:
    """One row per (query, index image) the protocol uses: its positives (mask, bbox, shapes; None if
    unlabelled) and its junk (mask, bbox and shapes None), by query then index id."""
    for q, query_name in enumerate(gt.query_names):
        difficulty = gt.difficulty(q)
        positives, junk = protocol_lists(gt, protocol, q)
        positive = set(positives)
        for i in sorted(positives + junk):
            yield {
                "query_id": q,
                "index_id": i,
                "query_name": query_name,
                "index_name": gt.index_names[i],
                "difficulty": difficulty[i],
                "positive": i in positive,
                "mask": masks.get((q, i)),
                "bbox": bboxes.get((q, i)),
                "shapes": shapes.get((q, i)),
            }


def query_rows(gt, images) -> Iterator[dict]:
    """One row per query: its whole image, its crop box as [x, y, w, h] and its lists."""
    for q, name in enumerate(gt.query_names):
        x1, y1, x2, y2 = gt.bbx[q]
        height, width = images.size(name)
        if x1 >= width or y1 >= height or x2 <= 0 or y2 <= 0:
            raise ReleaseError(f"{gt.path}: query {q} ({name}) bbx {gt.bbx[q]} lies outside its "
                               f"{width}x{height} image")
        yield {
            "query_id": q,
            "name": name,
            "image": {"bytes": images.bytes(name), "path": f"{name}.jpg"},
            "bbox": [x1, y1, x2 - x1, y2 - y1],
            "easy": gt.easy[q],
            "hard": gt.hard[q],
            "junk": gt.junk[q],
        }


def index_rows(gt, images) -> Iterator[dict]:
    """One row per index image, row i = index id i, with its size as displayed (EXIF orientation applied)."""
    for i, name in enumerate(gt.index_names):
        height, width = images.size(name)
        yield {
            "index_id": i,
            "name": name,
            "image": {"bytes": images.bytes(name), "path": f"{name}.jpg"},
            "width": width,
            "height": height,
        }


def preview_positives(easy, hard, per_query: int = PREVIEW_PER_QUERY) -> list[int]:
    """The positives of a query the preview shows (medium protocol), by index id: the first easy and the first hard
    ones, as many of each as fit in half (both kinds shown when the query has both), the rest from the kind that
    has more."""
    easy_count = min(len(easy), max(per_query - len(hard), per_query // 2))
    hard_count = min(len(hard), per_query - easy_count)
    return sorted(sorted(easy)[:easy_count] + sorted(hard)[:hard_count])


def preview_queries(gt, per_query: int = PREVIEW_PER_QUERY) -> dict[int, list[int]]:
    """{query id: the positives its preview rows show} of the queries that have any (``preview_positives``)."""
    chosen = {q: preview_positives(gt.easy[q], gt.hard[q], per_query) for q in range(len(gt.query_names))}
    return {q: ids for q, ids in chosen.items() if ids}


def query_crops(gt, images, queries, workers: int = 1) -> dict[int, bytes]:
    """{query id: the preview's picture of its crop} (at most PREVIEW_SIDE pixels), made on ``workers`` threads.
    They need no label: the build makes them while the labels are read."""
    def query_picture(q: int) -> bytes:
        name = gt.query_names[q]
        x1, y1, x2, y2 = gt.bbx[q]
        image, _ = open_jpeg(images.bytes(name), images.where(name))  # full size: the crop exactly as evaluated
        crop = geometry.query_crop(image, [x1, y1, x2 - x1, y2 - y1])
        return _jpeg(crop.resize(report.fit(crop.size, PREVIEW_SIDE), Image.BILINEAR))

    with ThreadPoolExecutor(workers) as pool:
        return dict(zip(queries, pool.map(query_picture, queries)))


def preview_index_images(gt, images, per_query: int = PREVIEW_PER_QUERY, workers: int = 1) -> dict[int, tuple]:
    """{index id: (the image at the preview's size, its full (height, width))} of the index images the preview
    shows, made on ``workers`` threads. They need no label: the build makes them while the labels are read."""
    def shown(i: int) -> tuple:
        image, (height, width) = open_jpeg(images.bytes(gt.index_names[i]), images.where(gt.index_names[i]),
                                           at_least=PREVIEW_SIDE)
        return image.resize(report.fit((width, height), PREVIEW_SIDE), Image.BILINEAR), (height, width)

    ids = sorted({i for shown_ids in preview_queries(gt, per_query).values() for i in shown_ids})
    with ThreadPoolExecutor(workers) as pool:
        return dict(zip(ids, pool.map(shown, ids)))


def preview_rows(gt, masks: dict, images, per_query: int = PREVIEW_PER_QUERY, workers: int = 1,
                 crops: dict | None = None, shown: dict | None = None) -> Iterator[dict]:
    """One row per (query, shown positive), by query then index id: ids, names, difficulty, whether the pair has
    a label, and two pictures of at most PREVIEW_SIDE pixels: the query's crop (``query_crops``; made here unless
    given as ``crops``) and the index image (``preview_index_images``; made here unless given as ``shown``) with
    the pair's ground-truth mask tinted and outlined (no overlay without a label). Pictures are made on
    ``workers`` threads."""
    def index_picture(index_mask: tuple[int, dict | None]) -> bytes:
        i, mask = index_mask
        image, (height, width) = shown[i]
        return _jpeg(image if mask is None else report.tinted(image, report.scaled_mask(mask, height, width,
                                                                                        image.size)))

    def drawn(q: int, i: int) -> tuple:
        """What an index picture shows: the queries of a landmark share their labels, and so their pictures."""
        return i, None if masks.get((q, i)) is None else masks[q, i]["counts"]

    chosen = preview_queries(gt, per_query)
    pairs = [(q, i) for q, ids in chosen.items() for i in ids]
    to_draw = {drawn(q, i): (i, masks.get((q, i))) for q, i in pairs}
    crops = query_crops(gt, images, list(chosen), workers) if crops is None else crops
    shown = preview_index_images(gt, images, per_query, workers) if shown is None else shown
    pool = ThreadPoolExecutor(workers)
    try:
        pictures = dict(zip(to_draw, pool.map(index_picture, to_draw.values())))
        difficulty = {q: gt.difficulty(q) for q in chosen}
        for q, i in pairs:
            query_name, index_name = gt.query_names[q], gt.index_names[i]
            yield {
                "query_id": q,
                "index_id": i,
                "query_name": query_name,
                "index_name": index_name,
                "difficulty": difficulty[q][i],
                "labelled": masks.get((q, i)) is not None,
                "query_crop": {"bytes": crops[q], "path": f"{query_name}_crop.jpg"},
                "index_image": {"bytes": pictures[drawn(q, i)], "path": f"{index_name}_q{q}.jpg"},
            }
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=PREVIEW_QUALITY)
    return buffer.getvalue()
