"""Upstream release -> hub-ready dataset folder.

The folder gets ``<config>/<split>-00000-of-0000N.parquet`` (image bytes embedded),
a dataset card (``README.md``) whose YAML ``configs:`` make it loadable with no code,
``LICENSE``, ``preview.jpg`` (a picture made from the data) and ``build_report.json``
(provenance, counts, and what was kept but is worth knowing). It is built under a
temporary name and swapped in at the end: a failed or interrupted build leaves nothing.
"""

from __future__ import annotations

import datetime
import io
import json
import shutil
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from PIL import Image, ImageOps

from pixret import __version__, card, hub_eval, outputs, report as pictures
from pixret.images import combined_sha256, sha256_file
from pixret.metric.benchmarks import BENCHMARKS, identify, lists_digest
from pixret.release import ReleaseError, load_pair2label, locate_release, verify_images
from proxford_prparis import FEATURES, ProxfordPrparis

PREVIEW_QUERIES = 3


def build(benchmark: str, labels, output, images=None, gnd=None, num_proc: int | None = None,
          overwrite: bool = False, ignore_extra_labels: bool = False, max_shard_size: str = "500MB",
          synthetic: bool = False, repo_id: str | None = None) -> dict:
    """Write the dataset folder; return the build report.

    ``labels``: the authors' label release folder; ``images``: folders and/or .tgz archives
    (default ``jpg/`` beside the gnd); ``gnd``: revisitop's .pkl or .mat (default: in the release).
    """
    if benchmark not in BENCHMARKS:
        raise ReleaseError(f"unknown benchmark {benchmark!r}; expected one of {sorted(BENCHMARKS)}")
    images = None if images is None else [str(p) for p in ([images] if isinstance(images, (str, Path)) else images)]
    release = locate_release(benchmark, labels, gnd, images)  # fail before anything is written
    inputs = [labels, release.gnd_path, *(images or [])]
    outputs.check_apart(output, inputs)  # before the slow part
    verify_images(release, release.ground_truth)  # archives are read here, once
    with outputs.staged_folder(output, overwrite, command="build", inputs=inputs) as tmp:
        infos, pair_report = {}, None
        for config in FEATURES:
            builder = ProxfordPrparis(
                config_name=config, data_dir=str(labels), benchmark=benchmark, images=images,
                gnd=None if gnd is None else str(gnd), ignore_extra_labels=ignore_extra_labels,
                cache_dir=str(tmp / ".cache"),
            )
            builder.release = release
            prepared = tmp / ".cache" / f"{config}-parquet"
            try:
                builder.download_and_prepare(output_dir=str(prepared), file_format="parquet",
                                             max_shard_size=max_shard_size, num_proc=num_proc)
            except datasets.exceptions.DatasetGenerationError as err:
                raise _release_error(err) from None
            pair_report = builder.report or pair_report
            infos[config] = builder.info
            _move_shards(prepared, tmp / config, builder.name)
        shutil.rmtree(tmp / ".cache")
        report = _report(release, benchmark, synthetic, pair_report, infos)
        _write_pictures_and_card(tmp, report, infos, repo_id or _default_repo(benchmark, report))
        hub_eval.write_eval_yaml(tmp, report, repo_id or _default_repo(benchmark, report))  # real builds only
        outputs.write_text(tmp / "build_report.json", json.dumps(report, indent=1) + "\n")
    return report


def _release_error(err: Exception) -> Exception:
    """The ReleaseError (or interrupt) under datasets' generation error, if there is one."""
    cause = err
    while cause is not None and not isinstance(cause, (ReleaseError, KeyboardInterrupt)):
        cause = cause.__cause__ or cause.__context__
    return cause or err


def _move_shards(prepared: Path, target: Path, builder_name: str) -> None:
    """datasets writes <builder>-<split>[-SSSSS-of-NNNNN].parquet; the Hub convention is <split>-SSSSS-of-NNNNN."""
    target.mkdir(parents=True)
    for path in sorted(prepared.glob(f"{builder_name}-*.parquet")):
        rest = path.stem[len(builder_name) + 1:]
        split, _, shard = rest.partition("-")
        path.rename(target / f"{split}-{shard or '00000-of-00001'}.parquet")


def _default_repo(benchmark: str, report: dict) -> str:
    return f"pixret/{benchmark}" if report["benchmark"] else f"pixret/{benchmark}-demo"


def _report(release, benchmark: str, synthetic: bool, pair_report: dict, infos: dict) -> dict:
    """Provenance and counts of the build: what the card's provenance section shows."""
    gt = release.ground_truth
    found = identify(gt.query_names)
    notes = []
    if found and lists_digest(gt.easy, gt.hard, gt.junk) != BENCHMARKS[found].gnd_sha256:
        notes.append(f"the gnd file has {BENCHMARKS[found].pretty_name}'s query names but its easy/hard/junk lists "
                     "differ from revisitop's: built as custom data")
        found = None
    if found and len(gt.index_names) != BENCHMARKS[found].index_size:
        found = None
    label_files = sorted({release.label_path(rel) for rel in load_pair2label(release.pair2label_path).values()})
    sources = [
        {"name": release.gnd_path.name, "what": "revisitop ground truth", "sha256": sha256_file(release.gnd_path)},
        {"name": release.pair2label_path.name, "what": "pair -> label file", "sha256": sha256_file(release.pair2label_path)},
        {"name": f"{len(label_files)} label files", "what": "LabelMe JSON, combined",
         "sha256": combined_sha256({p.relative_to(release.root).as_posix(): p.read_bytes() for p in label_files})},
        *release.images.provenance(gt.index_names + gt.query_names),
    ]
    medium = infos["pairs"].splits["medium"]
    return {
        "pixret_version": __version__,
        "built_at": datetime.date.today().isoformat(),
        "built_as": benchmark,
        "benchmark": found,
        "synthetic": bool(synthetic),
        "num_queries": len(gt.query_names),
        "num_index": len(gt.index_names),
        "sources": sources,
        "unlisted_archive_images": release.images.unlisted,
        "notes": notes,
        **pair_report,
        "counts": {**pair_report["counts"], "positives_medium": pair_report["counts"]["positive_pairs"],
                   "rows_medium": medium.num_examples},
    }


def _write_pictures_and_card(folder: Path, report: dict, infos: dict, repo_id: str) -> None:
    """preview.jpg from the built data itself, then the card and LICENSE."""
    medium = _table(folder, "pairs", "medium").to_pydict()
    labelled = sorted({q for q, positive, mask in zip(medium["query_id"], medium["positive"], medium["mask"])
                       if positive and mask is not None})
    chosen = labelled[:: max(1, len(labelled) // PREVIEW_QUERIES)][:PREVIEW_QUERIES]
    rows = [dict(zip(medium, values)) for values in zip(*medium.values())]
    example = next((row for row in rows if row["positive"] and row["mask"] is not None), None)
    if chosen:
        shown = [i for q in chosen for i in sorted(i for i, pq_, positive, mask in zip(
            medium["index_id"], medium["query_id"], medium["positive"], medium["mask"])
            if pq_ == q and positive and mask is not None)[:3]]
        queries = _by_id(_table(folder, "queries", "test", "query_id", chosen), "query_id")
        index = _by_id(_table(folder, "index", "test", "index_id", shown), "index_id")
        pictures.preview(queries, index, medium, chosen).save(folder / "preview.jpg", quality=85)
        caption = (f"Queries {', '.join(map(str, chosen))} (their crop, left) and their first positives with the "
                   "ground-truth mask outlined (yellow), drawn from this build's data.")
    else:
        caption = "No labelled positive in this build: no preview picture."
    card.write_card(folder, report, infos, repo_id, example, caption)


def _table(folder: Path, config: str, split: str, key: str | None = None, ids=None):
    """A built split read straight from its Parquet shards (only the rows with ``key`` in ``ids``)."""
    files = sorted((folder / config).glob(f"{split}-*.parquet"))
    if key is None:
        return pq.ParquetDataset(files).read()
    table = pq.ParquetDataset(files, filters=[(key, "in", list(ids))]).read()  # row groups skipped by statistics
    return table.filter(pc.is_in(table[key], value_set=pa.array(ids)))


def _by_id(table, key: str) -> dict:
    """{id: row} with the image decoded as datasets decodes it (EXIF orientation applied)."""
    return {row[key]: {**row, "image": ImageOps.exif_transpose(Image.open(io.BytesIO(row["image"]["bytes"])))}
            for row in table.to_pylist()}
