"""A built PROxford / PRParis dataset, from a local folder or a Hub id, and which benchmark it is.

    data = open_dataset("demo_output/dataset")   # or "pixret/proxford", or "hub:pixret/proxford"
    data.benchmark          # "proxford", "prparis" or "custom": from its query names, never from a title
    data.split("medium")    # the pairs config's split

A spec that looks like a path (it exists, starts with '.', '/' or '~', has more than
one '/', or its first component is an existing folder) is never sent to the Hub; ``hub:``
in front of an id says it is one even where a folder of that name's owner exists here
(``hub:pixret/proxford`` in a clone of pixret, which has a ``pixret/`` folder).
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from pathlib import Path

from pixret.metric.errors import InputError
from pixret.metric.benchmarks import BENCHMARKS, CUSTOM, PROTOCOLS, identify, metric_options

REPORT = "build_report.json"
HUB_PREFIX = "hub:"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


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


class BuiltDataset:
    """The three configs of a built dataset, loaded on first use."""

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

    def load(self, config: str, split: str):
        import datasets  # here, not at the top: `pixret --help` and usage errors stay quick

        key = (config, split)
        if key not in self._cache:
            if not self.local:
                _reachable(self.spec)
            try:
                self._cache[key] = datasets.load_dataset(str(_expand(self.spec)) if self.local else self.spec,
                                                         config, split=split)
            except (KeyboardInterrupt, DatasetError):
                raise
            except ConnectionError as err:
                raise DatasetError(f"{self.spec}: cannot reach the Hub ({_first_line(err)})") from None
            except Exception as err:  # noqa: BLE001 - a damaged folder or card, no Hub: the message says which
                raise DatasetError(f"{self.spec}: cannot load config {config!r} split {split!r} "
                                   f"({type(err).__name__}: {_first_line(err)})") from None
        return self._cache[key]

    def split(self, protocol: str):
        if protocol not in PROTOCOLS:
            raise DatasetError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
        return self.load("pairs", protocol)

    @property
    def queries(self):
        return self.load("queries", "test")

    @property
    def index(self):
        return self.load("index", "test")

    @cached_property
    def index_sizes(self) -> list[tuple[int, int]]:
        """(height, width) of each index image, by id."""
        table = self.index.select_columns(["height", "width"])
        return list(zip(table["height"], table["width"]))

    @cached_property
    def query_names(self) -> list[str]:
        return self.queries["name"]

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
            raise DatasetError(f"--benchmark {benchmark}, but {self.spec} is {what} (by its query names)")
        return options

    @cached_property
    def report(self) -> dict | None:
        """The build's report (provenance, counts), when the folder or repo has one."""
        try:
            if self.local:
                path = Path(self.spec).expanduser() / REPORT
            else:
                from huggingface_hub import hf_hub_download

                path = Path(hf_hub_download(self.spec, REPORT, repo_type="dataset"))
            return json.loads(path.read_text())
        except Exception:  # noqa: BLE001 - no file, no Hub, a bad file: all mean there is no report to show
            return None


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
    return BuiltDataset(str(spec))


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
