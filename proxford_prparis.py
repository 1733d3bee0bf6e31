"""PROxford and PRParis pixel retrieval benchmarks as a `datasets` builder.

datasets >= 4 does not run loading scripts, so this builder is used as a class
by ``pixret build`` (``pixret.build``), which writes Parquet plus a dataset card;
users then call ``load_dataset("pixret/proxford", "pairs")`` with no code.

    builder = ProxfordPrparis(config_name="pairs", data_dir=RELEASE, benchmark="proxford")
    builder.download_and_prepare()
    medium = builder.as_dataset("medium")

Configs (one table each):
- ``pairs`` (default), splits easy / medium / hard: one row per (query, index image)
  relation the revisitop protocol uses (its positives and its junk), with the
  ground-truth mask of the pair as COCO compressed RLE.
- ``queries``, split test: the 70 queries with full image, crop bbox and lists.
- ``index``, split test: the index images, row i = index id i.
"""

from __future__ import annotations

import itertools

import datasets
import pyarrow as pa

from pixret.masks import boxes
from pixret.metric.benchmarks import CITATION, HOMEPAGE, PROTOCOLS
from pixret.metric.rle import rle_feature
from pixret.release import (Release, ReleaseError, locate_release, protocol_lists, read_pair_masks,
                            verify_images)


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


class ProxfordPrparisConfig(datasets.BuilderConfig):
    """One table of one benchmark.

    Args:
        benchmark: "proxford" or "prparis".
        images: folders of ``<name>.jpg`` and/or ``.tgz`` archives; default ``jpg/`` beside the gnd file.
        gnd: revisitop's gnd file (.pkl or .mat); default: found in the release (``data_dir``).
        ignore_extra_labels: skip (and report) label entries for pairs that are not positives
            instead of failing.
    """

    def __init__(self, benchmark: str = "proxford", images: tuple[str, ...] | None = None, gnd: str | None = None,
                 ignore_extra_labels: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.benchmark = benchmark
        self.images = None if images is None else tuple(str(p) for p in images)
        self.gnd = gnd
        self.ignore_extra_labels = ignore_extra_labels


class ProxfordPrparis(datasets.ArrowBasedBuilder):
    BUILDER_CONFIG_CLASS = ProxfordPrparisConfig
    BUILDER_CONFIGS = [ProxfordPrparisConfig(name=name) for name in FEATURES]
    DEFAULT_CONFIG_NAME = "pairs"
    ROWS_PER_TABLE = {"pairs": 20_000, "queries": 100, "index": 100}  # rows with images: small Arrow batches

    # set by _split_generators of the pairs config: what the build reports
    report: dict | None = None
    # set by pixret.build to share one reading of the release (and its archives) between the configs
    release: Release | None = None

    def _info(self):
        return datasets.DatasetInfo(
            description=f"{self.config.benchmark}: pixel retrieval benchmark, {self.config.name} table",
            features=FEATURES[self.config.name],
            homepage=HOMEPAGE,
            citation=CITATION,
        )

    def _split_generators(self, dl_manager):
        if self.release is None:
            if not self.config.data_dir:
                raise ReleaseError("pass data_dir=<folder of the upstream release>")
            self.release = locate_release(self.config.benchmark, self.config.data_dir, self.config.gnd,
                                          self.config.images)
        release = self.release
        gt = release.ground_truth
        if self.config.name == "pairs":
            verify_images(release, gt, {gt.index_names[i] for q in range(len(gt.query_names))
                                        for i in gt.easy[q] + gt.hard[q]})
            pair_masks = read_pair_masks(release, gt, self.config.ignore_extra_labels)
            self.report = pair_masks.report
            pairs = list(pair_masks.masks)
            bboxes = dict(zip(pairs, boxes([pair_masks.masks[p] for p in pairs]).tolist()))  # once, not per split
            return [
                datasets.SplitGenerator(name=p, gen_kwargs={"gt": gt, "masks": pair_masks.masks, "bboxes": bboxes,
                                                            "protocol": p})
                for p in PROTOCOLS
            ]
        names = gt.query_names if self.config.name == "queries" else gt.index_names
        verify_images(release, gt, names)
        ids = list(range(len(names)))
        # the id list is what datasets shards across processes with num_proc
        return [datasets.SplitGenerator(name=datasets.Split.TEST,
                                        gen_kwargs={"gt": gt, "release": release, "ids": ids})]

    def _generate_tables(self, **kwargs):
        """The config's rows (one generator per table, below), written as Arrow tables of a few rows each:
        datasets' per-example encoding would be most of the build's time."""
        rows = getattr(self, f"_generate_{self.config.name}")(**kwargs)
        schema, size = self.info.features.arrow_schema, self.ROWS_PER_TABLE[self.config.name]
        for k in itertools.count():
            batch = [row for _, row in itertools.islice(rows, size)]
            if not batch:
                return
            yield k, pa.Table.from_pylist(batch, schema=schema)

    def _generate_pairs(self, gt, masks, bboxes, protocol):
        for q, query_name in enumerate(gt.query_names):
            difficulty = gt.difficulty(q)
            positives, junk = protocol_lists(gt, protocol, q)
            positive = set(positives)
            for i in sorted(positives + junk):
                mask = masks.get((q, i))
                yield f"{q}_{i}", {
                    "query_id": q,
                    "index_id": i,
                    "query_name": query_name,
                    "index_name": gt.index_names[i],
                    "difficulty": difficulty[i],
                    "positive": i in positive,
                    "mask": mask,
                    "bbox": bboxes.get((q, i)),
                }

    def _generate_queries(self, gt, release, ids):
        for q in ids:
            name = gt.query_names[q]
            x1, y1, x2, y2 = gt.bbx[q]
            height, width = release.images.size(name)
            if x1 >= width or y1 >= height or x2 <= 0 or y2 <= 0:
                raise ReleaseError(f"{gt.path}: query {q} ({name}) bbx {gt.bbx[q]} lies outside its "
                                   f"{width}x{height} image")
            yield q, {
                "query_id": q,
                "name": name,
                "image": {"bytes": release.images.bytes(name), "path": f"{name}.jpg"},
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "easy": gt.easy[q],
                "hard": gt.hard[q],
                "junk": gt.junk[q],
            }

    def _generate_index(self, gt, release, ids):
        for i in ids:
            name = gt.index_names[i]
            height, width = release.images.size(name)
            yield i, {
                "index_id": i,
                "name": name,
                "image": {"bytes": release.images.bytes(name), "path": f"{name}.jpg"},
                "width": width,
                "height": height,
            }
