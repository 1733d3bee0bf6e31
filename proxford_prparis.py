"""PROxford and PRParis pixel retrieval benchmarks as a `datasets` builder.

datasets >= 4 does not run loading scripts: users load a built folder or the Hub repo with no
code (``load_dataset("pixret/proxford", "pairs")``), and ``pixret build`` writes the Parquet
itself. This class is a thin builder over the same row functions (``pixret.rows``), for those
who build from the release in Python:

    builder = ProxfordPrparis(config_name="pairs", data_dir=RELEASE, benchmark="proxford")
    builder.download_and_prepare()
    medium = builder.as_dataset("medium")       # the same rows as `pixret build` writes

Configs (one table each): ``pairs`` (default; splits easy / medium / hard), ``queries`` and
``index`` (split test), and ``preview`` (split test: pictures of the queries' first positives with
their masks drawn, for the Hub's dataset viewer); see ``pixret.rows``. After preparing the pairs
config, ``builder.report`` is what the build reports about the labels.
"""

from __future__ import annotations

import datasets

from pixret import rows
from pixret.release import ReleaseError, locate_release


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
    BUILDER_CONFIGS = [ProxfordPrparisConfig(name=name) for name in rows.FEATURES]
    DEFAULT_CONFIG_NAME = "pairs"

    report: dict | None = None  # the pairs config's label report, once prepared

    def _info(self):
        return rows.dataset_info(self.config.benchmark, self.config.name)

    def _split_generators(self, dl_manager):
        if not self.config.data_dir:
            raise ReleaseError("pass data_dir=<folder of the upstream release>")
        release = locate_release(self.config.benchmark, self.config.data_dir, self.config.gnd, self.config.images)
        tables = rows.Tables(release, self.config.ignore_extra_labels)
        if self.config.name == "pairs":
            self.report = tables.report  # labels read and checked here, before anything is written
        return [datasets.SplitGenerator(name=split, gen_kwargs={"tables": tables, "split": split})
                for split in rows.SPLITS[self.config.name]]

    def _generate_tables(self, tables, split):
        yield from enumerate(tables.tables(self.config.name, split))
