"""A built PROxford / PRParis dataset, from a local folder or a Hub id, and which benchmark it is.

    data = open_dataset("demo_output/dataset")   # or "pixret/proxford", or "hub:pixret/proxford"
    data.benchmark          # "proxford", "prparis" or "custom": from its query names, never from a title
    data.split("medium")    # the pairs config's split

A spec that looks like a path (it exists, starts with '.', '/' or '~', has more than
one '/', or its first component is an existing folder) is never sent to the Hub; ``hub:``
in front of an id says it is one even where a folder of that name's owner exists here
(``hub:pixret/proxford`` in a clone of pixret, which has a ``pixret/`` folder).

A local folder is read as it is on disk, every time it is opened: the Parquet shards its card's
``configs:`` name, read with pyarrow (only the columns asked for), decoded with the features stored
in their schema (as ``load_dataset`` decodes them), after checking that every shard of a split is
there and that the row counts are the card's ``dataset_info``. ``datasets``' cache is not used: an
edited, truncated or deleted shard is noticed, and two folders of the same name and card keep their
own data. A Hub id is loaded with ``load_dataset``.

Two digests say which data a figure is of: ``parquet_sha256`` (every Parquet shard of a folder, recorded
in its build report by ``pixret build``; ``shards_changed`` says how a folder differs from it since) and
``BuiltDataset.ground_truth_sha256`` (what the evaluation reads, the same for two copies of one build).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from functools import cached_property
from pathlib import Path, PurePosixPath

from pixret.metric.core.errors import InputError
from pixret.outputs import read_json
from pixret.metric.core.benchmarks import BENCHMARKS, CUSTOM, PROTOCOLS, identify, metric_options
from pixret.metric.files.safe_pickle import sha256_file
from pixret.metric.evaluation import GroundTruth

REPORT = "build_report.json"
HUB_PREFIX = "hub:"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")
_SHARD = re.compile(r"-(\d{5})-of-(\d{5})\.parquet$")
SHARDS_SHA256 = "parquet_sha256"  # the build report's {shard path: SHA-256}
GROUND_TRUTH_COLUMNS = ("query_id", "index_id", "positive", "mask", "bbox")  # of a pairs split, as scored


class DatasetError(InputError):
    """The dataset cannot be opened or is not a pixret build."""


def _expand(spec: str) -> Path:
    try:
        return Path(spec).expanduser()
    except RuntimeError:  # ~user that does not exist
        raise DatasetError(f"{spec}: no such user's home folder") from None


def looks_local(spec: str) -> bool:
    """Whether ``spec`` is meant as a local path rather than a Hub id."""
    if spec.startswith(HUB_PREFIX):
        return False
    path = _expand(spec)
    first = Path(spec.split("/", 1)[0])
    return (path.exists() or spec.startswith((".", "/", "~")) or "\\" in spec or spec.count("/") != 1
            or (first.is_dir() and str(first) != ".") or not _HUB_ID.match(spec))


class RowsById:
    """Rows of a table by their id, each decoded when it is asked for (not every image held at once)."""

    def __init__(self, table, key: str):
        self.table = table
        self.position = {int(value): k for k, value in enumerate(table[key])}

    def __getitem__(self, row_id) -> dict:
        return self.table[self.position[int(row_id)]]

    def __iter__(self):
        return iter(self.position)

    def __len__(self) -> int:
        return len(self.position)


class BuiltDataset:
    """The configs of a built dataset (``pairs``, ``queries``, ``index``; ``preview`` has pictures only), loaded on
    first use."""

    def __init__(self, spec: str):
        self.local = looks_local(spec)
        self.spec = spec if self.local else spec.removeprefix(HUB_PREFIX)
        if not self.local and not _HUB_ID.match(self.spec):
            raise DatasetError(f"{spec}: not a Hub dataset id (owner/name)")
        if self.local:
            folder = _expand(spec)
            if not folder.exists():
                hint = (f" (for the Hub dataset, write {HUB_PREFIX}{spec}: a folder named {spec.split('/')[0]}/ "
                        "is here)" if _HUB_ID.match(spec) else "")
                raise DatasetError(f"{spec}: dataset folder not found{hint}")
            if not folder.is_dir() or not (folder / "README.md").is_file() or not (folder / "pairs").is_dir():
                raise DatasetError(f"{spec}: not a built dataset folder (no README.md card and pairs/ config; "
                                   "build one with `pixret build`)")
        self._cache: dict = {}

    def load(self, config: str, split: str, columns=None):
        """One split of one config as a ``datasets.Dataset`` (only ``columns``, when given)."""
        key = (config, split, None if columns is None else tuple(columns))
        if key not in self._cache:
            whole = self._cache.get((config, split, None))
            if whole is None and not self.local:  # the Hub: the whole split, then its columns
                whole = self._cache[(config, split, None)] = self._load_hub(config, split)
            if whole is not None:
                self._cache[key] = whole if columns is None else whole.select_columns(list(columns))
            else:  # a folder: what is on disk, only the columns asked for
                self._cache[key] = read_split(_expand(self.spec), config, split, columns)
        return self._cache[key]

    def _load_hub(self, config: str, split: str):
        import datasets  # here, not at the top: `pixret --help` and usage errors stay quick

        _reachable(self.spec)
        try:
            return datasets.load_dataset(self.spec, config, split=split)
        except (KeyboardInterrupt, DatasetError):
            raise
        except ConnectionError as err:
            raise DatasetError(f"{self.spec}: cannot reach the Hub ({_first_line(err)})") from None
        except Exception as err:  # noqa: BLE001 - a damaged repo or card, no Hub: the message says which
            raise DatasetError(f"{self.spec}: cannot load config {config!r} split {split!r} "
                               f"({type(err).__name__}: {_first_line(err)})") from None

    def split(self, protocol: str):
        if protocol not in PROTOCOLS:
            raise DatasetError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
        return self.load("pairs", protocol)

    def rows(self, config: str, split: str, key: str, ids) -> RowsById:
        """The rows whose ``key`` is in ``ids``, by id (a local folder: only the row groups holding them are read,
        e.g. a few index images rather than all of them)."""
        ids = sorted({int(i) for i in ids})
        if self.local:
            table = read_split(_expand(self.spec), config, split, where=(key, ids))
        else:
            import numpy as np

            table = self.load(config, split)
            table = table.select(np.flatnonzero(np.isin(table[key], ids)))
        return RowsById(table, key)

    @property
    def queries(self):
        return self.load("queries", "test")

    @property
    def index(self):
        return self.load("index", "test")

    @cached_property
    def index_sizes(self) -> list[tuple[int, int]]:
        """(height, width) of each index image, by id."""
        table = self.load("index", "test", ["height", "width"])  # not the image bytes
        return list(zip(table["height"], table["width"]))

    @cached_property
    def query_names(self) -> list[str]:
        return list(self.load("queries", "test", ["name"])["name"])  # a list: datasets 4.0's column refuses np.int64

    @cached_property
    def benchmark(self) -> str:
        """The benchmark these queries are ("custom" for data in the format that is not one of them)."""
        return identify(self.query_names) or CUSTOM

    def metric_options(self, benchmark: str | None = None) -> dict:
        """benchmark (and for custom data index_size, num_queries) for the metric, after checking a requested one."""
        options = metric_options(self.query_names, len(self.index_sizes))
        found = options["benchmark"]
        if benchmark is not None and benchmark != found:
            what = BENCHMARKS[found].pretty_name if found in BENCHMARKS else "not one of the benchmarks (custom data)"
            raise DatasetError(f"benchmark={benchmark!r}, but {self.spec} is {what} (by its query names)")
        return options

    def ground_truth(self, benchmark: str | None = None) -> GroundTruth:
        """The dataset as an evaluation reads it (``pixret.metric.evaluation``); ``benchmark``: check it is that one."""
        self.metric_options(benchmark)  # the benchmark it is, by its query names, against the one asked for
        return GroundTruth(self.spec, self.query_names, self.index_sizes, self.split,
                           (self.report or {}).get("built_as"))

    def ground_truth_sha256(self, protocols=PROTOCOLS) -> str:
        """SHA-256 of the ground truth the evaluation reads: the query names, the index images' sizes, and the
        pairs of each of ``protocols`` (ids, positive, mask, box) in their stored order. Two copies of one build (a
        folder and its Hub upload) have the same; data with other masks, lists or sizes has another."""
        digest = hashlib.sha256()

        def add(label: str, value) -> None:  # each part named and length-prefixed: no two splits read alike
            data = json.dumps(value, separators=(",", ":")).encode()
            digest.update(f"{label}:{len(data)}:".encode() + data)

        add("query_names", list(self.query_names))
        add("index_sizes", [list(size) for size in self.index_sizes])
        for protocol in protocols:  # a few thousand rows each: their Python values, hashed as JSON, are exact
            add(protocol, self.split(protocol).select_columns(list(GROUND_TRUTH_COLUMNS)).with_format(
                "arrow")[:].to_pydict())
        return digest.hexdigest()

    @cached_property
    def report(self) -> dict | None:
        """The build's report (provenance, counts); None when the folder or repo has none. One that is there
        but is not a JSON object is an error."""
        if self.local:
            path = _expand(self.spec) / REPORT
        else:
            from huggingface_hub import hf_hub_download
            from huggingface_hub.errors import EntryNotFoundError

            try:
                path = Path(hf_hub_download(self.spec, REPORT, repo_type="dataset"))
            except EntryNotFoundError:
                return None
            except Exception as err:  # noqa: BLE001 - no Hub, no access: the message says which
                raise DatasetError(f"{self.spec}: cannot fetch {REPORT} ({_first_line(err)})") from None
        return read_report(path)


def read_report(path) -> dict | None:
    """A build report file: None when there is none; DatasetError when it is not a JSON object."""
    report = read_json(path, DatasetError)
    if report is not None and not isinstance(report, dict):
        raise DatasetError(f"{path}: not a pixret build report (a JSON {type(report).__name__}, not an object)")
    return report


def parquet_sha256(folder) -> dict[str, str]:
    """{path relative to ``folder`` ('/'-separated): SHA-256} of every Parquet shard of a built folder
    (``<config>/*.parquet``), as ``pixret build`` records them in its report."""
    folder = Path(folder)
    return {path.relative_to(folder).as_posix(): sha256_file(path, DatasetError) for path in sorted(folder.glob("*/*.parquet"))}


def shards_changed(folder, report: dict) -> list[str]:
    """How the Parquet shards of a built folder differ from those its build ``report`` recorded, one phrase per
    shard ("pairs/medium-00000-of-00001.parquet edited"); empty when they are as built. A report that recorded
    none (a build by an older pixret) is an error: nothing says the data is the build's."""
    recorded = report.get(SHARDS_SHA256)
    if not isinstance(recorded, dict) or not recorded:
        raise DatasetError(f"{Path(folder) / REPORT}: records no SHA-256 of the build's Parquet shards (built by "
                           f"pixret {report.get('pixret_version', '?')}): nothing says the data is as built; rebuild "
                           "the folder with this pixret")
    present = parquet_sha256(folder)
    return ([f"{name} edited" for name in recorded if name in present and present[name] != recorded[name]]
            + [f"{name} missing" for name in recorded if name not in present]
            + [f"{name} added" for name in present if name not in recorded])


def read_split(folder: Path, config: str, split: str, columns=None, where=None):
    """One split of a built folder as it is on disk (see the module's docstring), only ``columns`` when given, and
    with ``where`` = (key, ids) only the rows whose key is one of ids; DatasetError names the file."""
    import datasets
    import pyarrow as pa

    pattern, num_rows, card_features = _card_split(folder, config, split)
    shards = _shards(folder, pattern, config, split)
    read = [_read_shard(path, columns, where) for path in shards]
    tables = [table for table, _ in read]
    for path, table in zip(shards[1:], tables[1:]):
        if not table.schema.equals(tables[0].schema, check_metadata=False):
            raise DatasetError(f"{path}: its columns differ from those of {shards[0]} (another build's shard?)")
    rows = sum(count for _, count in read)
    if rows != num_rows:
        raise DatasetError(f"{folder}: config {config!r} split {split!r} has {rows} rows in "
                           f"{', '.join(p.relative_to(folder).as_posix() for p in shards)} but the card's dataset_info "
                           f"says {num_rows}: a shard was edited or replaced; rebuild the folder with `pixret build`")
    table = pa.concat_tables(tables)
    if b"huggingface" in (table.schema.metadata or {}):
        features = datasets.Features.from_arrow_schema(table.schema)  # what the build stored in the schema
    else:  # rewritten without them: the card's, as load_dataset would use (or, lacking those, the Arrow types)
        known = {name: card_features[name] for name in table.column_names if name in (card_features or {})}
        features = datasets.Features(known) if len(known) == table.num_columns else None
    stamp = [(p.as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in shards]
    fingerprint = datasets.fingerprint.Hasher.hash([stamp, columns, where])  # not a hash of the table (images)
    try:
        return datasets.Dataset(datasets.table.InMemoryTable(table), info=datasets.DatasetInfo(features=features),
                                split=datasets.NamedSplit(split), fingerprint=fingerprint)
    except (TypeError, ValueError, pa.ArrowException) as err:
        raise DatasetError(f"{shards[0]}: its columns do not decode ({_first_line(err)})") from None


def _card_split(folder: Path, config: str, split: str):
    """(the card's data file pattern, its dataset_info row count, its features) of one split."""
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    readme = folder / "README.md"
    try:
        data = DatasetCard.load(readme).data
        configs = MetadataConfigs.from_dataset_card_data(data)
        infos = DatasetInfosDict.from_dataset_card_data(data)
    except Exception as err:  # noqa: BLE001 - YAML errors of several kinds: the card cannot be read
        raise DatasetError(f"{readme}: the card's YAML cannot be read ({_first_line(err)})") from None
    files = [f for f in configs.get(config, {}).get("data_files", [])
             if isinstance(f, dict) and f.get("split") == split]
    pattern = files[0].get("path") if files else None
    if not isinstance(pattern, str) or PurePosixPath(pattern).is_absolute() or ".." in PurePosixPath(pattern).parts:
        raise DatasetError(f"{readme}: the card's configs name no data file pattern inside the folder for config "
                           f"{config!r} split {split!r} (rebuild the folder with `pixret build`)")
    info = infos.get(config)
    if info is None or info.splits is None or split not in info.splits:
        raise DatasetError(f"{readme}: the card's dataset_info has no row count for config {config!r} split "
                           f"{split!r} (rebuild the folder with `pixret build`)")
    return pattern, info.splits[split].num_examples, info.features


def _shards(folder: Path, pattern: str, config: str, split: str) -> list[Path]:
    """The files of a split, after checking they are <name>-SSSSS-of-NNNNN.parquet with none missing."""
    found = sorted(p for p in folder.glob(pattern) if p.is_file())
    if not found:
        raise DatasetError(f"{folder / pattern}: no file (config {config!r} split {split!r} of the card); "
                           "rebuild the folder with `pixret build`")
    numbers = {}
    for path in found:
        match = _SHARD.search(path.name)
        if match is None:
            raise DatasetError(f"{path}: not a shard name (<split>-SSSSS-of-NNNNN.parquet) for config {config!r} "
                               f"split {split!r}")
        numbers[path] = (int(match[1]), int(match[2]))
    total = numbers[found[0]][1]
    expected = {f"{k:05d}-of-{total:05d}" for k in range(total)}
    present = {f"{k:05d}-of-{n:05d}" for k, n in numbers.values()}
    stem = _SHARD.sub("", found[0].name)
    if present != expected:
        missing = sorted(expected - present)
        odd = sorted(present - expected)
        what = (f"{len(missing)} of its {total} shards are missing: " + ", ".join(
            (found[0].parent / f"{stem}-{m}.parquet").as_posix() for m in missing[:3]) if missing else
            f"shards {', '.join(odd)} do not belong to a set of {total}")
        raise DatasetError(f"{folder}: config {config!r} split {split!r}: {what}")
    return found


def _read_shard(path: Path, columns=None, where=None):
    """(the shard's table, its number of rows); ``where`` = (key, ids): only those rows, from the row groups whose
    statistics say they may hold them."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        with pq.ParquetFile(path, memory_map=True) as file:  # no read buffers: the pages are the file's
            names = file.schema_arrow.names
            absent = [c for c in (columns or []) + ([where[0]] if where else []) if c not in names]
            if absent:
                raise DatasetError(f"{path}: has no column {absent[0]!r} (its columns: {names})")
            if where is None:
                return file.read(columns=columns), file.metadata.num_rows
            key, ids = where
            groups = [g for g in range(file.num_row_groups) if _may_hold(file.metadata.row_group(g),
                                                                         names.index(key), ids)]
            wanted = None if columns is None else sorted({*columns, key})
            value_set = pa.array(ids, file.schema_arrow.field(key).type)
            parts = []
            for group in groups:  # one row group read at a time: only its wanted rows are kept
                part = file.read_row_group(group, columns=wanted)
                parts.append(part.filter(pc.is_in(part[key], value_set=value_set)))
            table = pa.concat_tables(parts) if parts else file.read_row_groups([], columns=wanted)
            return (table if columns is None else table.select(columns)), file.metadata.num_rows
    except (pa.ArrowException, OSError) as err:
        raise DatasetError(f"{path}: not a readable Parquet file ({_first_line(err)})") from None


def _may_hold(group, column: int, ids: list[int]) -> bool:
    """Whether a row group's min/max statistics of ``column`` leave room for one of the sorted ``ids``."""
    stats = group.column(column).statistics
    if stats is None or not stats.has_min_max:
        return True
    k = bisect.bisect_left(ids, stats.min)
    return k < len(ids) and ids[k] <= stats.max


def _reachable(repo_id: str) -> None:
    """One quick request before datasets' own (which retry for half a minute without a network)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return  # datasets reads its cache, or says it is offline
    import urllib.request

    try:
        urllib.request.urlopen(f"{constants.ENDPOINT}/api/datasets/{repo_id}", timeout=5)
    except urllib.error.HTTPError:
        return  # the Hub answered (a 401 / 404 is datasets' to report)
    except (OSError, ValueError) as err:
        raise DatasetError(f"{repo_id}: cannot reach the Hub at {constants.ENDPOINT} ({err}); set HF_HUB_OFFLINE=1 "
                           "to use what is cached") from None


def open_dataset(spec) -> BuiltDataset:
    if not str(spec).strip():
        raise DatasetError("the dataset is empty: name a built dataset folder or a Hub id (owner/name)")
    return BuiltDataset(str(spec))


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
