"""The rows of a built dataset's three tables, as plain generator functions, with their features.

Configs (one table each):
- ``pairs`` (default), splits easy / medium / hard: one row per (query, index image) relation the
  revisitop protocol uses (its positives and its junk), with the pair's ground-truth mask as COCO RLE;
- ``queries``, split test: the queries with full image, crop bbox and lists;
- ``index``, split test: the index images, row i = index id i.

``pixret.build`` writes them to Parquet itself; the ``datasets`` builder ``proxford_prparis`` is a thin
class over the same ``Tables``.
"""

from __future__ import annotations

import itertools
from functools import cached_property
from typing import Iterator

import datasets
import pyarrow as pa

from pixret.masks import boxes
from pixret.metric.benchmarks import CITATION, HOMEPAGE, PROTOCOLS
from pixret.metric.rle import rle_feature
from pixret.release import PairMasks, Release, ReleaseError, protocol_lists, read_pair_masks, verify_images

BBOX = datasets.List(datasets.Value("float32"))  # [x, y, w, h]
IDS = datasets.List(datasets.Value("int32"))

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
}
SPLITS = {"pairs": PROTOCOLS, "queries": ("test",), "index": ("test",)}
TABLE_ROWS = {"pairs": 20_000, "queries": 100, "index": 100}  # rows per Arrow table; with images: small tables


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
            return pair_rows(self.gt, self.pair_masks.masks, self._bboxes, split)
        names = self.gt.query_names if config == "queries" else self.gt.index_names
        verify_images(self.release, self.gt, names)
        return (query_rows if config == "queries" else index_rows)(self.gt, self.release.images)

    def num_rows(self, config: str, split: str) -> int:
        """How many rows ``rows(config, split)`` gives (known before they are made)."""
        gt = self.gt
        if config == "pairs":
            return sum(len(positives) + len(junk) for positives, junk in
                       (protocol_lists(gt, split, q) for q in range(len(gt.query_names))))
        return len(gt.query_names if config == "queries" else gt.index_names)

    def tables(self, config: str, split: str) -> Iterator[pa.Table]:
        """The rows of a split as Arrow tables of TABLE_ROWS rows (datasets' per-example encoding would be most
        of the build's time)."""
        rows, schema, size = self.rows(config, split), FEATURES[config].arrow_schema, TABLE_ROWS[config]
        while batch := list(itertools.islice(rows, size)):
            yield pa.Table.from_pylist(batch, schema=schema)


def pair_rows(gt, masks: dict, bboxes: dict, protocol: str) -> Iterator[dict]:
    """One row per (query, index image) the protocol uses: its positives (mask, bbox; None if unlabelled) and
    its junk (mask and bbox None), by query then index id."""
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
