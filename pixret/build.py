"""Upstream release -> hub-ready dataset folder.

The folder gets ``<config>/<split>-SSSSS-of-NNNNN.parquet`` (image bytes embedded; the rows of
``pixret.rows``, written here with datasets' own Parquet writer, so the features are in the schema
metadata as ``load_dataset`` expects), a dataset card (``README.md``) whose YAML ``configs:`` make it
loadable with no code and whose ``dataset_info`` is what was written, ``LICENSE``, ``preview.jpg`` (a
picture made from the data) and ``build_report.json`` (provenance, counts, what was kept but is
worth knowing, and the SHA-256 of every Parquet shard written). Every image is checked before the output is
begun; the labels are read and checked while the images' config is written (``write_configs``). The output is
written under a temporary name and swapped in at the end: a failed or interrupted build leaves nothing.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import hashlib
import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from datasets.arrow_writer import ParquetWriter
from datasets.utils.py_utils import convert_file_size_to_int
from PIL import Image, ImageOps

from pixret import card, hub_eval, outputs, report as pictures, rows, testhook
from pixret.dataset import SHARDS_SHA256, parquet_sha256
from pixret.images import combined_sha256, read_bytes, sha256_file
from pixret.metric.core.benchmarks import BENCHMARKS, identify, lists_digest
from pixret.metric.views import write_picture
from pixret.progress import bar
from pixret.release import ReleaseError, locate_release, verify_images
from pixret.version import __version__

PREVIEW_QUERIES = 3


class OutputWriteError(OSError):
    """The output could not be written (disk full, file too large, no permission); the message says which
    output and the operating system's reason."""


@contextlib.contextmanager
def _collector_skipping_older_objects():
    """Python's cyclic garbage collector runs as the build allocates (labels' points, rows: ~10^5 containers), and
    each full run walks every object alive, the modules of datasets and pyarrow included: ~10% of a build. The
    objects alive before the build are set aside (gc.freeze) while it runs; the build's own cycles are still
    collected. Left alone when the caller froze objects itself."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@_collector_skipping_older_objects()
def build(benchmark: str, labels, output, images=None, gnd=None, num_proc: int | None = None,
          overwrite: bool = False, ignore_extra_labels: bool = False, max_shard_size: str | int = "500MB",
          synthetic: bool = False, repo_id: str | None = None) -> dict:
    """Write the dataset folder; return the build report.

    ``labels``: the authors' label release folder; ``images``: folders and/or .tgz archives
    (default ``jpg/`` beside the gnd); ``gnd``: revisitop's .pkl or .mat (default: in the release).
    ``max_shard_size``: a split's Parquet file is cut after the Arrow table that takes it past this
    (uncompressed) size, as datasets cuts its shards. ``num_proc``: threads decoding the images to check
    them (default: one per core; the check is most of a build's work); with more than one, the configs are also
    written side by side (``write_configs``).
    """
    if benchmark not in BENCHMARKS:
        raise ReleaseError(f"unknown benchmark {benchmark!r}; expected one of {sorted(BENCHMARKS)}")
    images = None if images is None else [str(p) for p in ([images] if isinstance(images, (str, Path)) else images)]
    outputs.check_folder(output, "build", overwrite, inputs=[labels, gnd, *(images or [])])  # before reading: fail fast
    release = locate_release(benchmark, labels, gnd, images, workers=num_proc)  # fail before anything is written
    inputs = [labels, release.gnd_path, *(images or [])]
    outputs.check_folder(output, "build", overwrite, inputs=inputs)  # and apart from the gnd file found
    verify_images(release, release.ground_truth)  # archives are read here, once
    tables = rows.Tables(release, ignore_extra_labels)
    max_shard_size = convert_file_size_to_int(max_shard_size)
    with _writing(output), outputs.staged_folder(output, overwrite, command="build", inputs=inputs) as tmp:
        # every label read and checked in there; the card's picture drawn once the tables it shows are written
        infos, (example, caption) = write_configs(tmp, benchmark, tables, max_shard_size, then=_write_picture)
        report = _report(release, benchmark, synthetic, tables)
        with ThreadPoolExecutor(1) as side:  # hashing (outside the GIL) beside the card
            digests = side.submit(parquet_sha256, tmp)  # what the data is: an edit since is noticed (eval results)
            card.write_card(tmp, report, infos, repo_id or _default_repo(benchmark, report), example, caption)
            hub_eval.write_eval_yaml(tmp, report, repo_id or _default_repo(benchmark, report))  # real builds only
            report[SHARDS_SHA256] = digests.result()
        outputs.write_text(tmp / "build_report.json", json.dumps(report, indent=1) + "\n")
    return report


@contextlib.contextmanager
def _writing(output):
    """An OSError while the output is written (disk full, file too large, no permission) becomes one line naming
    the output and the OS's reason. Inputs read in there go through readers that raise ReleaseError instead."""
    try:
        yield
    except outputs.OutputExists:
        raise
    except OSError as err:
        raise OutputWriteError(f"cannot write {output}: {err.strerror or err}") from None


def write_configs(folder: Path, benchmark: str, tables: rows.Tables, max_shard_size: int,
                  then=lambda folder: None) -> tuple[dict, object]:
    """Read and check every label (``tables.pair_masks``), write every config (``write_config``); return {config:
    DatasetInfo} and what ``then(folder)`` returned, called once the pairs, queries and index configs are written
    (the preview config may still be being written).

    With more than one worker, on three threads, so that two cores are busy: the index config (the images' bytes:
    pyarrow, mostly outside the GIL) and the preview's query crops and index images at its size (decoding, outside
    the GIL) from the start, while this thread reads the labels (Python, holding the GIL); then the rest of the
    preview's pictures (the masks tinted and outlined, encoding) while this thread writes the pairs and queries,
    then calls ``then``. A failure in a thread stops the others at their next table (this one once the labels are
    read, or before ``then``), and is the error raised; the threads are waited for on every path, before the
    staged output is removed. With one worker (``num_proc=1``), one after the other."""
    if tables.release.images.workers <= 1:
        tables.pair_masks  # noqa: B018 - the labels, before anything is written
        infos = {config: write_config(folder, benchmark, config, tables, max_shard_size) for config in rows.FEATURES}
        return infos, then(folder)
    stop, side, started = threading.Event(), ThreadPoolExecutor(2), []

    def on_the_side(*call):
        future = side.submit(*call)
        future.add_done_callback(lambda done: _failed(done) and stop.set())  # a failure stops the others
        started.append(future)
        return future

    try:
        index = on_the_side(write_config, folder, benchmark, "index", tables, max_shard_size, stop)
        pictures = on_the_side(lambda: (tables.preview_crops, tables.preview_index_images))
        tables.pair_masks  # noqa: B018 - every label read and checked
        pictures.result()  # (made once: the preview's thread reads them)
        if stop.is_set():
            raise _Stopped("labels")
        preview = on_the_side(write_config, folder, benchmark, "preview", tables, max_shard_size, stop)
        infos = {config: write_config(folder, benchmark, config, tables, max_shard_size, stop)
                 for config in ("pairs", "queries")}
        infos["index"] = index.result()
        if stop.is_set():
            raise _Stopped("then")
        then_result = then(folder)
        infos["preview"] = preview.result()
    except _Stopped:  # stopped because another thread failed: its error is the build's
        failure = next((f.exception() for f in started if _failed(f) and not isinstance(f.exception(), _Stopped)),
                       None)
        if failure is None:
            raise
        raise failure from None
    except BaseException:
        stop.set()
        raise
    finally:
        # a second Ctrl-C or SIGTERM waits for the threads' end: the staged output is removed only once nothing
        # writes into it any more
        with outputs.signals_held():
            if stop.is_set():
                testhook.reached("build.stopping")
            side.shutdown(wait=True)
    return {config: infos[config] for config in rows.FEATURES}, then_result


class _Stopped(Exception):
    """A config's writing stopped because another thread of the build failed (never seen outside)."""


def _failed(future) -> bool:
    return future.done() and not future.cancelled() and future.exception() is not None


def write_config(folder: Path, benchmark: str, config: str, tables: rows.Tables,
                 max_shard_size: int, stop: threading.Event | None = None) -> datasets.DatasetInfo:
    """Write the splits of one config to ``folder/config/``; return its DatasetInfo (sizes as written). ``stop``: once
    set, the writing stops at the next table."""
    (folder / config).mkdir()
    splits = datasets.SplitDict()
    for split in rows.SPLITS[config]:
        splits.add(write_split(folder / config, split, rows.FEATURES[config], tables.tables(config, split),
                               max_shard_size, tables.num_rows(config, split), rows.TABLE_ROWS[config], stop))
    info = rows.dataset_info(benchmark, config, splits)
    info.download_size = sum(p.stat().st_size for p in (folder / config).glob("*.parquet"))
    info.dataset_size = sum(split.num_bytes for split in splits.values())
    return info


def write_split(folder: Path, split: str, features: datasets.Features, arrow_tables, max_shard_size: int,
                num_rows: int | None = None, row_group_rows: int | None = None,
                stop: threading.Event | None = None) -> datasets.SplitInfo:
    """Write Arrow tables as ``<split>-SSSSS-of-NNNNN.parquet``, starting a new shard once one holds more than
    ``max_shard_size`` bytes; the shard count is known at the end, so shards get their final names then. Each table
    is one Parquet row group, or several of ``row_group_rows`` rows at most (``rows.TABLE_ROWS``: the viewer's).
    ``stop`` (set by another thread of the build that failed): stop before the next table."""
    pending, written, writer, shard_bytes = [], [], None, 0

    def next_shard() -> ParquetWriter:
        pending.append(folder / f".{split}-{len(pending):05d}.parquet")
        # embed_local_files: the rows carry every image's bytes and base name (pixret.rows), which is what embedding
        # would make of them; it would only copy each table's images through Python lists.
        # use_content_defined_chunking (datasets' default, for the Hub's deduplication of a new version): Arrow's
        # writer then aborts the process on a failed write (a full disk, a signal's exception raised in a write)
        # instead of raising, which would leave the staged output behind
        return ParquetWriter(features=features, path=str(pending[-1]), embed_local_files=False,
                             use_content_defined_chunking=False, writer_batch_size=row_group_rows)

    progress = bar(total=num_rows, desc=f"writing {folder.name}/{split}", unit="row")
    try:
        for table in arrow_tables:
            if stop is not None and stop.is_set():
                raise _Stopped(f"{folder.name}/{split}")
            if writer is None or shard_bytes > max_shard_size:
                if writer is not None:
                    written.append(writer.finalize())
                    writer.close()
                writer, shard_bytes = next_shard(), 0
            writer.write_table(table)
            shard_bytes += table.nbytes
            progress.update(table.num_rows)
        if writer is None:  # no row: one empty shard, so that the split exists
            writer = next_shard()
        written.append(writer.finalize())
    finally:
        if writer is not None:
            writer.close()
        progress.close()
        if hasattr(arrow_tables, "close"):  # a generator stopped early: its rows' own pools end now, not at its GC
            arrow_tables.close()
    for k, path in enumerate(pending):
        path.rename(folder / f"{split}-{k:05d}-of-{len(pending):05d}.parquet")
    lengths = [num_examples for num_examples, _ in written]
    return datasets.SplitInfo(name=split, num_bytes=sum(size for _, size in written), num_examples=sum(lengths),
                              shard_lengths=lengths)


def _default_repo(benchmark: str, report: dict) -> str:
    return f"pixret/{benchmark}" if report["benchmark"] else f"pixret/{benchmark}-demo"


def _report(release, benchmark: str, synthetic: bool, tables: rows.Tables) -> dict:
    """Provenance and counts of the build: what the card's provenance section shows. Reads the sources
    (ReleaseError if one cannot be read), writes nothing."""
    gt, pair_report = release.ground_truth, tables.report
    found = identify(gt.query_names)
    notes = []
    if found and lists_digest(gt.easy, gt.hard, gt.junk) != BENCHMARKS[found].gnd_sha256:
        notes.append(f"the gnd file has {BENCHMARKS[found].pretty_name}'s query names but its easy/hard/junk lists "
                     "differ from revisitop's: built as custom data")
        found = None
    if found and len(gt.index_names) != BENCHMARKS[found].index_size:
        found = None
    label_files = tables.pair_masks.label_files
    sources = [
        {"name": release.gnd_path.name, "what": "revisitop ground truth", "sha256": sha256_file(release.gnd_path)},
        {"name": release.pair2label_path.name, "what": "pair -> label file", "sha256": sha256_file(release.pair2label_path)},
        {"name": f"{len(label_files)} label files", "what": "LabelMe JSON, combined",
         "sha256": combined_sha256({p.relative_to(release.root).as_posix(): hashlib.sha256(read_bytes(p)).hexdigest()
                                    for p in label_files})},
        *release.images.provenance(gt.index_names + gt.query_names),
    ]
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
                   "rows_medium": tables.num_rows("pairs", "medium")},
    }


def _write_picture(folder: Path) -> tuple[dict | None, str]:
    """preview.jpg from the built data itself (the pairs, queries and index configs); return the card's example
    row and the picture's caption."""
    medium = _table(folder, "pairs", "medium", columns=["query_id", "index_id", "positive", "mask"])
    labelled = pc.and_(medium["positive"], pc.is_valid(medium["mask"]))  # (the shapes are not read: most of the data)
    medium = medium.filter(labelled).to_pydict()
    chosen = sorted(set(medium["query_id"]))
    chosen = chosen[:: max(1, len(chosen) // PREVIEW_QUERIES)][:PREVIEW_QUERIES]
    example = None
    if medium["query_id"]:  # the card's example: the first labelled positive, whole
        q, i = medium["query_id"][0], medium["index_id"][0]
        example = next(row for row in _table(folder, "pairs", "medium", "query_id", [q]).to_pylist()
                       if row["index_id"] == i)
    if chosen:
        shown = [i for q in chosen for i in sorted(i for i, pq_ in zip(medium["index_id"], medium["query_id"])
                                                   if pq_ == q)[:3]]
        queries = _by_id(_table(folder, "queries", "test", "query_id", chosen), "query_id")
        index = _by_id(_table(folder, "index", "test", "index_id", shown), "index_id")
        picture = pictures.preview(queries, index, medium, chosen)
        write_picture(folder / "preview.jpg", lambda out: picture.save(out, "JPEG", quality=85))
        caption = (f"Queries {', '.join(map(str, chosen))} (their crop, left) and their first positives with the "
                   "ground-truth mask outlined (yellow), drawn from this build's data.")
    else:
        caption = "No labelled positive in this build: no preview picture."
    return example, caption


def _table(folder: Path, config: str, split: str, key: str | None = None, ids=None, columns=None):
    """A built split read straight from its Parquet shards (only the rows with ``key`` in ``ids``; only ``columns``)."""
    files = sorted((folder / config).glob(f"{split}-*.parquet"))
    if key is None:
        return pq.ParquetDataset(files).read(columns)
    table = pq.ParquetDataset(files, filters=[(key, "in", list(ids))]).read(columns)  # row groups skipped by statistics
    return table.filter(pc.is_in(table[key], value_set=pa.array(ids)))


def _by_id(table, key: str) -> dict:
    """{id: row} with the image decoded as datasets decodes it (EXIF orientation applied)."""
    return {row[key]: {**row, "image": ImageOps.exif_transpose(Image.open(io.BytesIO(row["image"]["bytes"])))}
            for row in table.to_pylist()}
