"""PROxford / PRParis as Hub Benchmarks: the dataset's ``eval.yaml`` and a model's ``.eval_results/*.yaml``.

The Hub's Evaluation Results (https://huggingface.co/docs/hub/eval-results): a dataset repo with an
``eval.yaml`` at its root (name, description, evaluation_framework, tasks: id / config / split) is a
Benchmark, one leaderboard per task; a model repo publishes its scores as ``.eval_results/*.yaml``,
each file a list of entries {dataset: {id, task_id, revision}, value, verifyToken, date, source: {url,
name, user, org}, notes} (the schema: https://github.com/huggingface/hub-docs/blob/main/eval_results.yaml).
Entries are built with huggingface_hub's own ``EvalResultEntry`` / ``eval_result_entries_to_yaml`` and read
with its ``parse_eval_result_entries`` (huggingface_hub 1.4 and later).

    write_eval_yaml(folder, report, repo_id)      pixret build (the real benchmarks only)
    check_eval_yaml(path, configs, default, ...)  pixret push dataset
    upload_eval_yaml(api, repo_id, path, ...)     pixret push dataset: its own commit, after the data
    eval_results_files(dir, results, data, ...)   pixret evaluate --eval-results DIR (checked, not written)
    stage_files(files) -> .commit()               written whole, put in place last, all or none
    read_eval_results(dir), check_on_hub(...)     pixret push results
    hub_verdicts(model_repo, files)               the Hub's verdict on each uploaded file, read back

The tasks are the paper's figures, in percent as its tables print them: pixel mAP@50:5:95 (detection
IoU) of each reported protocol without and with the R1M distractors (Table 2), and mean mIoU with box
and mask IoU (Table 1). They are derived from the benchmark registry. Only the benchmark's own figures
are written: all queries, the official evaluation, R1M's distractors (in the ranks) or none, and the data
as built (a local folder's Parquet shards as its build report recorded them; a Hub copy pinned by commit).
"""

from __future__ import annotations

import contextlib
import datetime
import math
import os
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pixret import __version__
from pixret.dataset import shards_changed
from pixret.metric.core.benchmarks import BENCHMARKS, R1M_DISTRACTORS
from pixret.metric.core.errors import InputError
from pixret.metric.core.figures import BY_KEY, paper_figures

EVAL_YAML = "eval.yaml"
EVAL_RESULTS = ".eval_results"  # huggingface_hub.constants.EVAL_RESULTS_FOLDER
FRAMEWORK = "pixret"
CONFIG = "pairs"  # every task scores a protocol's split of the pairs config
DEFAULT_SPLIT = "test"  # a task without split evaluates "test" (the Hub's rule)
EVAL_YAML_KEYS = ("name", "description", "evaluation_framework", "tasks")
TASK_KEYS = ("id", "config", "split")
INSPECT_TASK_KEYS = ("field_spec", "solvers", "scorers")  # documented for evaluation_framework: inspect-ai
RESULT_KEYS = ("dataset", "value", "verifyToken", "date", "source", "notes")
DATASET_KEYS = ("id", "task_id", "revision")
SOURCE_KEYS = ("url", "name", "user", "org")
ENTRY_FIELDS = ("dataset_id", "task_id", "value", "dataset_revision", "verify_token", "date", "source_url",
                "source_name", "source_user", "source_org", "notes")  # huggingface_hub's EvalResultEntry
REGISTRATION = "docs/hub-registration.md"  # what to send the Hub so that pixret's Benchmarks are accepted
_OUTPUT = "eval_results"  # how output checks name the files written
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


class EvalYamlError(InputError):
    """A dataset's eval.yaml does not follow the Hub's specification or does not match the dataset."""


class EvalResultsError(InputError):
    """Eval results cannot be written, or a .eval_results file does not follow the Hub's schema."""


@dataclass(frozen=True)
class Task:
    """One leaderboard: a figure of the metric's results on one protocol's split."""

    protocol: str
    figure: str  # the metric's result key
    r1m: bool = False  # ranks over the index and the R1M distractors

    @property
    def id(self) -> str:
        return f"{self.protocol}_{self.figure}" + ("_r1m" if self.r1m else "")

    @property
    def title(self) -> str:
        return f"{self.protocol}: {BY_KEY[self.figure].title}" + (f" with the {R1M_DISTRACTORS:,} R1M distractors"
                                                             if self.r1m else "")


def tasks(benchmark: str) -> list[Task]:
    """The benchmark's leaderboards, the paper's figures of its reported protocols: Table 2's (pixel mAP, without
    then with R1M), then Table 1's (mean mIoU D / S)."""
    protocols = BENCHMARKS[benchmark].reported_protocols
    return ([Task(p, f.key, r1m) for f in paper_figures(2) for r1m in (False, True) for p in protocols]
            + [Task(p, f.key) for p in protocols for f in paper_figures(1)])


# ---------------------------------------------------------------- the dataset's eval.yaml
def eval_yaml(benchmark: str, repo_id: str) -> dict:
    """The eval.yaml of a benchmark's dataset repo, from the registry (``repo_id``: kept for callers; the
    description, two sentences, is the Benchmark page's, the card says how to evaluate)."""
    facts = BENCHMARKS[benchmark]
    protocols = " or ".join(facts.reported_protocols)
    description = (
        f"{facts.pretty_name} (An et al., ICCV 2023) is a pixel retrieval benchmark: for each of the "
        f"{facts.num_queries} queries of revisitop's {facts.revisitop_pretty}, retrieve the images of its "
        f"{facts.index_size:,}-image index that show the query object and segment the object in each. Leaderboards "
        f"in percent, scored by pixret as the authors' released evaluation, for P = {protocols}: P_map_det, pixel "
        f"mAP@50:5:95 over a ranking of the index (Table 2), P_map_det_r1m, the same with the {R1M_DISTRACTORS:,} "
        "R1M distractors, and P_miou_det / P_miou_seg, mean mIoU with box / mask IoU on the ground-truth pairs "
        "(Table 1).")
    return {"name": facts.pretty_name, "description": description, "evaluation_framework": FRAMEWORK,
            "tasks": [{"id": t.id, "config": CONFIG, "split": t.protocol} for t in tasks(benchmark)]}


def write_eval_yaml(folder, report: dict, repo_id: str) -> Path | None:
    """``folder/eval.yaml`` for a build of a real benchmark (none for a synthetic or custom build)."""
    if report.get("benchmark") is None or report.get("synthetic"):
        return None
    path = Path(folder) / EVAL_YAML
    header = (f"# {BENCHMARKS[report['benchmark']].pretty_name} as a Hub Benchmark: "
              "https://huggingface.co/docs/hub/eval-results (written by pixret build)\n")
    path.write_text(header + _dump(eval_yaml(report["benchmark"], repo_id)), encoding="utf-8")
    return path


def read_eval_yaml(text: str, where: str, warn: bool = True) -> dict:
    """An eval.yaml checked against the Hub's specification alone (``warn``: about keys it does not have)."""
    doc = _load(text, where, EvalYamlError)
    if not isinstance(doc, dict):
        raise EvalYamlError(f"{where}: must be a mapping of {', '.join(EVAL_YAML_KEYS)}")
    for key in EVAL_YAML_KEYS[:3]:
        _text(doc, key, where, EvalYamlError)
    listed = doc.get("tasks")
    if not isinstance(listed, list) or not listed:
        raise EvalYamlError(f"{where}: tasks: " + ("missing (required)" if listed is None else
                                                   "must be a non-empty list of {id, config, split}"))
    seen = {}
    known = TASK_KEYS + (INSPECT_TASK_KEYS if doc["evaluation_framework"] == "inspect-ai" else ())
    for k, task in enumerate(listed):
        at = f"tasks[{k}]"
        if not isinstance(task, dict):
            raise EvalYamlError(f"{where}: {at}: must be a mapping of {', '.join(TASK_KEYS)}")
        task_id = _text(task, "id", where, EvalYamlError, at)
        if task_id in seen:
            raise EvalYamlError(f"{where}: {at}.id {task_id!r} repeats tasks[{seen[task_id]}].id: task ids are unique")
        seen[task_id] = k
        for key in TASK_KEYS[1:]:
            _text(task, key, where, EvalYamlError, at, required=False)
        if warn:
            _unknown(task, known, f"{where}: {at}")
    if warn:
        _unknown(doc, EVAL_YAML_KEYS, where)
    return doc


def check_eval_yaml(path, configs: dict[str, list[str]], default: str | None, benchmark: str | None = None) -> str:
    """Check a dataset folder's eval.yaml against the spec and its card: every task's config and split exist
    (``configs``: {config: splits}; ``default``: the default config); for a build of a registered ``benchmark``,
    a warning where it differs from what the build writes. Returns what was checked."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise EvalYamlError(f"{path}: cannot be read ({err})") from None
    doc = read_eval_yaml(text, str(path))
    if doc["evaluation_framework"] != FRAMEWORK:
        warnings.warn(f"{path}: evaluation_framework {doc['evaluation_framework']!r}: pixret datasets are scored by "
                      f"{FRAMEWORK!r}", stacklevel=2)
    if benchmark in BENCHMARKS:
        ids, expected = [t["id"] for t in doc["tasks"]], [t.id for t in tasks(benchmark)]
        missing, extra = [i for i in expected if i not in ids], [i for i in ids if i not in expected]
        if missing or extra:
            warnings.warn(f"{path}: its tasks differ from {BENCHMARKS[benchmark].pretty_name}'s leaderboards"
                          + (f"; missing {missing}" if missing else "") + (f"; not pixret's {extra}" if extra else "")
                          + " (pixret build writes them all)", stacklevel=2)
    for k, task in enumerate(doc["tasks"]):
        config = task.get("config", default)
        if config not in configs:
            raise EvalYamlError(f"{path}: tasks[{k}].config " + (f"{config!r} is not a config of the dataset card "
                                f"({', '.join(configs)})" if "config" in task else "missing and the card names no "
                                "default config"))
        split = task.get("split", DEFAULT_SPLIT)
        if split not in configs[config]:
            raise EvalYamlError(f"{path}: tasks[{k}].split {split!r}{' (the default)' if 'split' not in task else ''} "
                                f"is not a split of config {config!r} ({', '.join(configs[config])})")
    return f"{path.name}: {len(doc['tasks'])} tasks, unique ids, their configs and splits in the card"


def upload_eval_yaml(api, repo_id: str, path, parent_commit: str | None = None) -> tuple[str | None, str | None]:
    """Commit a dataset folder's eval.yaml to ``repo_id`` on its own, after the data (``parent_commit``: the data's
    commit, so that nothing lands in between). Returns (the commit's URL, None), or (None, the Hub's refusal in one
    line): the Hub refuses a Benchmark whose evaluation framework it does not list, and that must not undo the data.
    """
    from huggingface_hub import CommitOperationAdd
    from huggingface_hub.utils import HfHubHTTPError

    try:
        commit = api.create_commit(repo_id, [CommitOperationAdd(EVAL_YAML, str(path))], repo_type="dataset",
                                   commit_message=f"Add {EVAL_YAML} (a Hub Benchmark) with pixret push",
                                   parent_commit=parent_commit)
    except HfHubHTTPError as err:
        return None, (f"the Hub refused {EVAL_YAML} ({hub_answer(err)}): the dataset is uploaded, but it is no Hub "
                      f"Benchmark until the Hub takes its {EVAL_YAML}, which needs {FRAMEWORK!r} on the Hub's "
                      f"evaluation-framework list and the dataset on its Benchmark allow-list ({REGISTRATION} says "
                      "what to send)")
    return str(getattr(commit, "commit_url", commit)), None


def hub_answer(err) -> str:
    """An HTTP error of the Hub as "STATUS: its message", on one line."""
    status = getattr(getattr(err, "response", None), "status_code", None)
    said = " ".join((getattr(err, "server_message", None) or str(err)).split())
    return f"{status}: {said}" if status else said


# ---------------------------------------------------------------- a model's .eval_results/*.yaml
def eval_results_files(folder, results: dict, data, distractors: int = 0, official: bool = True,
                       overwrite: bool = False, *, ranks=None, source_url: str | None = None,
                       source_name: str | None = None) -> dict[Path, str]:
    """{``folder/.eval_results/<dataset>--<task>.yaml``: its text}, one file per leaderboard task among ``results``
    ({protocol: the metric's results}) of ``data`` (a ``pixret.dataset.BuiltDataset``), every target checked;
    nothing is written (``stage_files`` does, once the command has done everything else).

    Only the benchmark's own figures are written: all queries, the official evaluation, no other
    distractors than R1M's, and then ``ranks`` (the rankings scored) must hold some; a local build only as it
    was built (its Parquet shards as its build report recorded them). Anything else is refused with the
    reason. ``source_url`` / ``source_name``: the entries' ``source``, the leaderboard's link (e.g. the
    method's paper or logs). Each entry's ``notes`` is a short setup tag; the file's comment lines say which
    data the figures are of. A file of the same name (an earlier evaluation's) is replaced only with
    ``overwrite``; every file is checked before any is written.
    """
    _check_leaderboard_data(data)
    _check_leaderboard_setup(results, official, distractors)
    check_source(source_url, source_name)
    if distractors:
        _check_r1m_ranks(ranks, len(data.index_sizes))
    out = _results_folder(folder, data)
    if data.local:
        _check_as_built(data)
    source = _dataset_source(data, results)
    texts = _leaderboard_texts(results, BENCHMARKS[data.benchmark], source, distractors, source_url, source_name)
    return _targets(out, texts, source[0], overwrite, data)


def _check_leaderboard_data(data) -> None:
    """The data is a benchmark (by its query names) and, when a local build, its report says it was built as one."""
    benchmark = data.benchmark
    if benchmark not in BENCHMARKS:
        raise EvalResultsError(f"{data.spec} is not one of the benchmarks (custom data by its query names): it has no "
                               "leaderboard")
    if data.local and data.report is None:
        raise EvalResultsError(f"{data.spec} has no build report: nothing says which data it is built from (build it "
                               "with `pixret build`)")
    if data.report is not None and data.report.get("benchmark") != benchmark:
        raise EvalResultsError(f"{data.spec} has {BENCHMARKS[benchmark].pretty_name}'s queries but its build report "
                               "says it is not the benchmark (" + ("; ".join(data.report.get("notes") or [])
                                                                   or "custom data") + ")")


def _check_leaderboard_setup(results: dict, official: bool, distractors: int) -> None:
    """The evaluation is the leaderboards' own: official, every query, no distractors or R1M's."""
    if not official:
        raise EvalResultsError("official=False changes pixel mAP's denominator; the leaderboards hold only the "
                               "official figures (the authors' evaluation)")
    if any("subset" in result for result in results.values()):
        raise EvalResultsError("figures over a subset of the queries (queries=[...]) are not the benchmark's "
                               "figures: evaluate every query")
    if distractors not in (0, R1M_DISTRACTORS):
        raise EvalResultsError(f"distractors={distractors} is not R1M ({R1M_DISTRACTORS}): pixel mAP with these "
                               "distractors is no leaderboard's figure")


def _results_folder(folder, data) -> Path:
    """``folder/.eval_results``, once ``folder`` is no file and the results folder is apart from a local dataset."""
    from pixret.outputs import check_apart

    if Path(folder).exists() and not Path(folder).is_dir():
        raise EvalResultsError(f"{_OUTPUT}={folder} exists and is not a folder")
    out = Path(folder) / EVAL_RESULTS
    check_apart(out, [data.spec if data.local else None], _OUTPUT)
    return out


def _leaderboard_texts(results: dict, facts, source: tuple, distractors: int, source_url: str | None,
                       source_name: str | None) -> dict[str, str]:
    """{file name: its YAML text} of every leaderboard task of benchmark ``facts`` that ``results`` has a figure for
    (the other distractor setting's pixel mAP left out; ``source``: ``_dataset_source``); none is refused."""
    dataset_id, revision, provenance = source
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    texts = {}
    for task in tasks(facts.name):
        value = results.get(task.protocol, {}).get(task.figure)
        if value is None or (BY_KEY[task.figure].ranks and task.r1m != bool(distractors)):
            continue  # not computed (no ranks; boxes only: no mask IoU), or the other distractor setting
        entry = result_entries([{"dataset_id": dataset_id, "task_id": task.id, "value": round(100 * float(value), 2),
                                 "dataset_revision": revision, "date": date, "source_url": source_url,
                                 "source_name": source_name, "notes": setup_tag(task)}])
        header = (f"# {facts.pretty_name} {task.title}, percent\n"
                  f"# scored by pixret {__version__}: the official evaluation (= the authors' released code), all "
                  f"{facts.num_queries} queries" + (", ranks over the index and the R1M distractors" if task.r1m
                                                     else "") + "\n"
                  f"# data: {provenance}\n")
        texts[_file_name(dataset_id, task.id)] = header + _dump(entry)
    if not texts:
        raise EvalResultsError(f"no leaderboard figure among these results: the tasks are "
                               f"{', '.join(t.id for t in tasks(facts.name))} (the protocols "
                               f"{' and '.join(facts.reported_protocols)}; pixel mAP needs ranks)")
    return texts


def _targets(out: Path, texts: dict[str, str], dataset_id: str, overwrite: bool, data) -> dict[Path, str]:
    """{path: text} of the files in ``out``, each checked (an existing one replaced only with ``overwrite``); files of
    the same dataset there from an earlier evaluation are pointed out (push publishes everything there)."""
    from pixret.outputs import check_file

    if out.exists() and not out.is_dir():
        raise EvalResultsError(f"{out} exists and is not a folder")
    inputs = [data.spec if data.local else None]
    files = {(check_file(out / name, overwrite, _OUTPUT, inputs) if out.exists() else out / name): text
             for name, text in texts.items()}
    earlier = sorted(p.name for p in out.glob(_file_name(dataset_id, "*")) if p.name not in texts)
    if earlier:
        warnings.warn(f"{out} also holds {', '.join(earlier)}, from an earlier evaluation: `pixret push results` "
                      "publishes every file there; delete those that are not this model's figures", stacklevel=3)
    return files


def setup_tag(task: Task) -> str:
    """An entry's ``notes``: a short tag of the evaluation's setup (the Hub shows it beside the value)."""
    return f"pixret {__version__}, official, {task.protocol}" + (", R1M" if task.r1m else "")


def check_source(source_url: str | None, source_name: str | None) -> None:
    """An entry's ``source``: an http(s) link, and a display name only with it (the Hub's schema)."""
    if source_name is not None and source_url is None:
        raise EvalResultsError(f"source_name {source_name!r} needs source_url: the Hub's source is a link, its name "
                               "what the leaderboard shows for it")
    if source_url is not None and not re.match(r"^https?://\S+$", source_url):
        raise EvalResultsError(f"source_url {source_url!r} is not an http(s) link (the leaderboard links to it)")
    if source_name is not None and not source_name.strip():
        raise EvalResultsError("source_name is empty: give the link a name, or none (the Hub shows the link)")


def _check_r1m_ranks(ranks, index_size: int) -> None:
    """R1M figures only from rankings that hold distractors: with none, the figure is the plain one, labelled R1M."""
    if ranks is None:
        raise EvalResultsError(f"distractors={R1M_DISTRACTORS} (R1M) needs ranks, the rankings scored: the R1M "
                               "leaderboards hold figures of rankings over the index and the distractors")
    highest = max((int(row.max()) for row in ranks if row.size), default=-1)  # row by row: a memory map stays small
    if highest < index_size:
        raise EvalResultsError(f"distractors={R1M_DISTRACTORS} (R1M), but no ranks row holds an id past the index "
                               f"({index_size} images; the highest id is {highest}): these rankings are not over the "
                               "R1M distractors, and their figures belong on the leaderboards without R1M")


def _check_as_built(data) -> None:
    """A local build's Parquet shards as its build report recorded them: an edit since makes other figures."""
    from pixret.dataset import DatasetError

    try:
        changed = shards_changed(data.spec, data.report)
    except DatasetError as err:
        raise EvalResultsError(str(err)) from None
    if changed:
        raise EvalResultsError(f"{data.spec}: its data changed since it was built ({'; '.join(changed[:3])}"
                               + (f" and {len(changed) - 3} more" if len(changed) > 3 else "") + "): figures on it "
                               f"are not {BENCHMARKS[data.benchmark].pretty_name}'s; rebuild it with `pixret build`, "
                               f"or evaluate on {BENCHMARKS[data.benchmark].hub_id}")


def result_entries(fields: list[dict]) -> list[dict]:
    """Eval results entries, ready for YAML, from ``EvalResultEntry``'s fields (``ENTRY_FIELDS``; None: absent),
    made by huggingface_hub's own ``eval_result_entries_to_yaml``."""
    from huggingface_hub import EvalResultEntry, eval_result_entries_to_yaml

    return eval_result_entries_to_yaml([EvalResultEntry(**entry) for entry in fields])


def parse_entries(entries: list[dict]) -> list[dict]:
    """Entries as huggingface_hub reads them (``parse_eval_result_entries``), each as ``EvalResultEntry``'s fields:
    what the Hub's tools make of a file."""
    from huggingface_hub import parse_eval_result_entries

    return [{key: getattr(entry, key) for key in ENTRY_FIELDS} for entry in parse_eval_result_entries(entries)]


class StagedFiles:
    """Text files written whole under temporary names beside their targets (``stage_files``): ``commit`` puts
    every one in place at once; leaving the ``with`` block removes what is still staged, and the folders made for
    them. A full disk, an error or an interruption before ``commit`` leaves none of the files."""

    def __init__(self):
        self.staged: dict[Path, Path] = {}  # target: its temporary file
        self.made: list[Path] = []  # folders created for them, deepest first

    def add(self, target: Path, text: str) -> None:
        missing = [p for p in (target.parent, *target.parent.parents) if not p.exists()]
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            self.made = missing + self.made
            handle, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        except OSError as err:
            raise EvalResultsError(f"{target}: cannot be written ({err.strerror or err})") from None
        self.staged[target] = Path(tmp)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600
        except OSError as err:  # a full disk, a file size limit
            raise EvalResultsError(f"{target}: cannot be written ({err.strerror or err})") from None

    def commit(self) -> list[Path]:
        """Rename every staged file over its target (only over a regular file, checked for all first)."""
        for target in self.staged:
            if target.is_symlink() or (target.exists() and not target.is_file()):
                raise EvalResultsError(f"{target} is no longer a regular file: nothing was written")
        done = []
        for target, tmp in list(self.staged.items()):
            os.replace(tmp, target)
            del self.staged[target]
            done.append(target)
        self.made = []  # they hold the files now
        return done

    def discard(self) -> None:
        for tmp in self.staged.values():
            tmp.unlink(missing_ok=True)
        self.staged = {}
        for folder in self.made:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only while empty: never what someone else put there since
        self.made = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.discard()


def stage_files(files: dict[Path, str]) -> StagedFiles:
    """Write {path: text} under temporary names beside the paths (see ``StagedFiles``); on a failure, none stays."""
    staged = StagedFiles()
    try:
        for path, text in files.items():
            staged.add(Path(path), text)
    except BaseException:
        staged.discard()
        raise
    return staged


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _file_name(dataset_id: str, task_id: str) -> str:
    return f"{dataset_id.replace('/', '--')}--{task_id}.yaml"


def _dataset_source(data, results: dict) -> tuple[str, str | None, str]:
    """(dataset id, revision, provenance text) of the evaluated data: a Hub id at the commit it was loaded
    from, or for a local folder the benchmark's Hub id and what the folder's build report says."""
    if not data.local:
        splits = [data.split(p) for p in results] + [data.queries, data.index]  # loaded already: cached
        commits = {Path(f["filename"]).parent.name for split in splits for f in split.cache_files}
        if len(commits) > 1:
            raise EvalResultsError(f"{data.spec} was loaded from several commits "
                                   f"({', '.join(sorted(commits))}): it changed during the evaluation; run it again")
        commit = next(iter(commits), "")
        if not _COMMIT.match(commit):
            warnings.warn(f"cannot tell which commit of {data.spec} was loaded: the eval results name no revision",
                          stacklevel=3)
            return data.spec, None, f"{data.spec} from the Hub"
        return data.spec, commit, f"{data.spec} at commit {commit}"
    report = data.report or {}
    sources = ", ".join(f"{s['name']} {s['sha256'][:12]}" for s in report.get("sources", []))
    built = (f"built by pixret {report.get('pixret_version')} on {report.get('built_at')}; sha256 of its sources: "
             f"{sources}" if report else "no build report")
    return BENCHMARKS[data.benchmark].hub_id, None, f"a local build, its Parquet shards as built ({built})"


def read_eval_results(folder) -> dict[str, list[dict]]:
    """{file name: entries} of ``folder/.eval_results/*.yaml``, each checked against the Hub's schema;
    one value per (dataset, task) across the files."""
    folder = Path(folder)
    where = folder / EVAL_RESULTS
    if not folder.is_dir():
        raise EvalResultsError(f"{folder}: folder not found")
    if not where.is_dir():
        loose = sorted(p.name for p in folder.glob("*.yaml"))
        raise EvalResultsError(f"{folder}: no {EVAL_RESULTS}/ folder (eval_results_files gives an evaluation's "
                               "files for it)" + (f"; it holds {', '.join(loose[:3])} directly: pass the folder above "
                                               f"the {EVAL_RESULTS}/ the files belong in" if loose else ""))
    files = sorted(p for p in where.iterdir() if not p.name.startswith("."))
    misnamed = [p.name for p in files if p.suffix == ".yml"]
    if misnamed:
        raise EvalResultsError(f"{where}: {', '.join(misnamed)}: the Hub reads {EVAL_RESULTS}/*.yaml; rename to .yaml")
    others = [p.name for p in files if p.suffix != ".yaml"]
    if others:
        warnings.warn(f"{where}: {', '.join(others)} are not .yaml files: not uploaded", stacklevel=2)
    found, owner, ours = {}, {}, []  # ours: the values on the registered benchmarks' leaderboards
    for path in (p for p in files if p.suffix == ".yaml"):
        if not path.is_file():
            raise EvalResultsError(f"{path}: not a file")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise EvalResultsError(f"{path}: cannot be read ({err})") from None
        entries = _load(text, str(path), EvalResultsError)
        if not isinstance(entries, list) or not entries:
            raise EvalResultsError(f"{path}: must be a non-empty list of results ({{dataset: {{id, task_id}}, "
                                   "value, ...}), as the Hub's eval results schema says")
        for k, entry in enumerate(entries):
            key = check_entry(entry, f"{path}: entry {k}")
            if key in owner:
                raise EvalResultsError(f"{path}: entry {k}: a second value for dataset {key[0]} task {key[1]} "
                                       f"(the first: {owner[key]}): one value per task")
            owner[key] = f"{path.name} entry {k}"
            ours += [entry["value"]] if any(b.hub_id == key[0] for b in BENCHMARKS.values()) else []
        found[path.name] = entries
    if not found:
        raise EvalResultsError(f"{where}: no .yaml file to publish")
    if ours and max(ours) <= 1 and max(ours) > 0:  # one low mAP is a method's; every figure at most 1% is not
        warnings.warn(f"{where}: every value on the benchmarks' leaderboards is at most 1 ({len(ours)} values): they "
                      "look like fractions, and the leaderboards are in percent", stacklevel=2)
    return found


def check_entry(entry, where: str) -> tuple[str, str]:
    """Check one result against the Hub's schema; returns its (dataset id, task id)."""
    if not isinstance(entry, dict):
        raise EvalResultsError(f"{where}: must be a mapping of {', '.join(RESULT_KEYS)}")
    dataset = entry.get("dataset")
    if not isinstance(dataset, dict):
        raise EvalResultsError(f"{where}: dataset: " + ("missing (required)" if dataset is None else
                                                       "must be a mapping of id, task_id, revision"))
    dataset_id = _text(dataset, "id", where, EvalResultsError, "dataset")
    if not _HUB_ID.match(dataset_id):
        raise EvalResultsError(f"{where}: dataset.id {dataset_id!r} is not a Hub dataset id (owner/name)")
    task_id = _text(dataset, "task_id", where, EvalResultsError, "dataset")
    revision = _text(dataset, "revision", where, EvalResultsError, "dataset", required=False)
    if revision is not None and not _COMMIT.match(revision):
        warnings.warn(f"{where}: dataset.revision {revision!r} is not a commit hash: it does not pin the data",
                      stacklevel=3)
    value = entry.get("value")
    if "value" not in entry:
        raise EvalResultsError(f"{where}: value: missing (required)")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise EvalResultsError(f"{where}: value must be a finite number, got {value!r}")
    facts = next((b for b in BENCHMARKS.values() if b.hub_id == dataset_id), None)
    if facts and not 0 <= value <= 100:
        raise EvalResultsError(f"{where}: value {value} is not a percentage (0..100), as {facts.pretty_name}'s "
                               "leaderboards hold")
    date = entry.get("date")
    if isinstance(date, (datetime.date, datetime.datetime)):
        raise EvalResultsError(f"{where}: date {date} must be a quoted string (YAML read it as a date), e.g. "
                               f"\"{date.isoformat()}\"")
    if _text(entry, "date", where, EvalResultsError, required=False) is not None:
        try:
            datetime.datetime.fromisoformat(date.replace("Z", "+00:00"))
        except ValueError:
            raise EvalResultsError(f"{where}: date {date!r} is not an ISO-8601 date or datetime") from None
    for key in ("verifyToken", "notes"):
        _text(entry, key, where, EvalResultsError, required=False)
    source = entry.get("source")
    if source is not None:
        if not isinstance(source, dict):
            raise EvalResultsError(f"{where}: source must be a mapping of {', '.join(SOURCE_KEYS)}")
        url = _text(source, "url", where, EvalResultsError, "source")
        if not re.match(r"^https?://\S+$", url):
            raise EvalResultsError(f"{where}: source.url {url!r} is not an http(s) link")
        for key in SOURCE_KEYS[1:]:
            _text(source, key, where, EvalResultsError, "source", required=False)
        _unknown(source, SOURCE_KEYS, f"{where}: source")
    _unknown(dataset, DATASET_KEYS, f"{where}: dataset")
    _unknown(entry, RESULT_KEYS, where)
    return dataset_id, task_id


def check_on_hub(found: dict[str, list[dict]], model_repo: str, token: str | None = None) -> list[str]:
    """What only the Hub can tell, before an upload: the model repo exists, and each dataset is a Benchmark
    whose eval.yaml defines the results' task ids (at the revision they name, if any). A model card that declares
    a ``base_model`` gets a warning: the leaderboards hide such models by default. Returns what was checked."""
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.utils import EntryNotFoundError, GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    api = HfApi(token=token)
    try:
        model = api.model_info(model_repo)
    except RepositoryNotFoundError:
        raise EvalResultsError(f"model_repo={model_repo}: no such model on the Hub (or your token cannot see it): "
                               "eval results go to an existing model repo") from None
    checks = [f"model {model_repo} exists"]
    base_model = declared_base_model(model)
    if base_model:
        warnings.warn(f"{model_repo}'s model card declares base_model {base_model}: the Hub's leaderboards hide models "
                      "with a base model by default (a viewer sees their results only with that filter off)",
                      stacklevel=2)
    by_dataset: dict[str, list[tuple[str, dict]]] = {}
    for name, entries in found.items():
        for k, entry in enumerate(entries):
            by_dataset.setdefault(entry["dataset"]["id"], []).append((f"{name} entry {k}", entry["dataset"]))
    for dataset_id, uses in by_dataset.items():
        try:
            path = hf_hub_download(dataset_id, EVAL_YAML, repo_type="dataset", token=token)
        except GatedRepoError:
            raise EvalResultsError(f"{uses[0][0]}: dataset.id {dataset_id} is gated: accept its terms on the Hub with "
                                   "this token's account first") from None
        except RepositoryNotFoundError:
            raise EvalResultsError(f"{uses[0][0]}: dataset.id {dataset_id}: no such dataset on the Hub") from None
        except EntryNotFoundError:
            raise EvalResultsError(f"{uses[0][0]}: dataset.id {dataset_id} has no {EVAL_YAML}: it is not a Hub "
                                   "Benchmark, and results on it appear on no leaderboard") from None
        defined = [t["id"] for t in read_eval_yaml(Path(path).read_text(encoding="utf-8"),
                                                   f"{dataset_id}/{EVAL_YAML}", warn=False)["tasks"]]
        for where, dataset in uses:
            if dataset["task_id"] not in defined:
                raise EvalResultsError(f"{where}: dataset.task_id {dataset['task_id']!r} is not a task of "
                                       f"{dataset_id} (its {EVAL_YAML}: {', '.join(defined)})")
            if dataset.get("revision"):
                try:
                    api.dataset_info(dataset_id, revision=dataset["revision"])
                except RevisionNotFoundError:
                    raise EvalResultsError(f"{where}: dataset.revision {dataset['revision']} is not a commit of "
                                           f"{dataset_id}") from None
        checks.append(f"{dataset_id} is a Benchmark defining the {len(uses)} results' tasks")
    return checks


def declared_base_model(model) -> str | None:
    """The ``base_model`` a model's card declares (a ``huggingface_hub.ModelInfo``), as text; None without."""
    card = getattr(model, "card_data", None) or getattr(model, "cardData", None) or {}
    value = card.get("base_model") if hasattr(card, "get") else None
    if not value:
        return None
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


@dataclass(frozen=True)
class Verdict:
    """The Hub's word on one uploaded eval results file."""

    file: str  # its path in the repo
    valid: bool | None  # None: the Hub does not list it (yet)
    said: str  # the Hub's error, or what it read
    entries: list = field(default_factory=list, compare=False)  # valid: EvalResultEntry's fields of each entry


def describe_verdict(verdict: Verdict) -> str:
    """One line: the file, valid / INVALID / not listed, what the Hub said or read."""
    return f"{verdict.file}: {({True: 'valid', False: 'INVALID', None: 'not listed'})[verdict.valid]}: {verdict.said}"


def hub_verdicts(model_repo: str, files: list[str], token: str | None = None,
                 pull_request: int | None = None) -> list[Verdict] | None:
    """The Hub's verdict on each of ``files`` (paths in ``model_repo``), read back from its API: the model's
    ``evalResults``, where a file the Hub could not read carries its error and a valid one what it read
    (``pull_request``: the results of that pull request, else those of the main branch). None when the Hub's
    answer has no ``evalResults`` (an older Hub, or an emulator that does not report on eval results)."""
    from huggingface_hub import HfApi
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    api = HfApi(token=token)
    answer = get_session().get(f"{api.endpoint}/api/models/{model_repo}", params={"expand": "evalResults"},
                               headers=build_hf_headers(token=token), timeout=60)
    hf_raise_for_status(answer)
    listed = answer.json().get("evalResults")
    if not isinstance(listed, list):
        return None
    return read_verdicts(listed, files, pull_request)


def read_verdicts(listed: list, files: list[str], pull_request: int | None = None) -> list[Verdict]:
    """``files``' verdicts from the Hub's ``evalResults`` items: {filename, error} for a file it rejects,
    {filename, data: the entry, verified, pullRequest} for each entry it read."""
    items: dict[str, list[dict]] = {}
    for item in listed:
        if isinstance(item, dict) and item.get("pullRequest") == pull_request:
            items.setdefault(str(item.get("filename")), []).append(item)
    verdicts = []
    for name in files:
        mine = items.get(name, [])
        errors = [" ".join(str(item["error"]).split()) for item in mine if "error" in item]
        read = [item["data"] for item in mine if isinstance(item.get("data"), dict)]
        if errors:
            verdicts.append(Verdict(name, False, "; ".join(errors)))
        elif not read:
            verdicts.append(Verdict(name, None, "the Hub may read it later: look at the model page"))
        else:
            try:
                entries = parse_entries(read)
            except (KeyError, TypeError, ValueError) as err:  # the Hub read it; huggingface_hub cannot
                verdicts.append(Verdict(name, False, f"the Hub's reading of it cannot be parsed ({err!r})"))
                continue
            verified = any(item.get("verified") for item in mine)
            verdicts.append(Verdict(name, True, "; ".join(f"{e['dataset_id']} {e['task_id']} = {e['value']}"
                                                          for e in entries) + (" (verified)" if verified else ""),
                                    entries))
    return verdicts


# ---------------------------------------------------------------- YAML
class _Loader(yaml.SafeLoader):
    """yaml.safe_load that refuses a key given twice (safe_load keeps the last one silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} given twice", key_node.start_mark)
            seen.add(key) if isinstance(key, (str, int, float, bool)) else None
        return super().construct_mapping(node, deep)


def _load(text: str, where: str, error: type[InputError]):
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise error(f"{where}: not valid YAML ({err.problem or err.context}"
                    + (f", line {mark.line + 1}" if mark else "") + ")") from None
    except yaml.YAMLError as err:
        raise error(f"{where}: not valid YAML ({str(err).splitlines()[0]})") from None


class _Dumper(yaml.SafeDumper):
    """yaml.safe_dump with long texts (description, notes) as folded blocks, as the Hub's examples write them."""


_Dumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style=">" if len(text) > 80 and "\n" not in text else None))


def _dump(doc) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)


def _text(mapping: dict, key: str, where: str, error: type[InputError], at: str = "", required: bool = True):
    """``mapping[key]`` checked to be a non-empty string (None when absent and not required)."""
    name = f"{at}.{key}" if at else key
    if key not in mapping:
        if required:
            raise error(f"{where}: {name}: missing (required)")
        return None
    value = mapping[key]
    if not isinstance(value, str) or not value.strip():
        raise error(f"{where}: {name} must be a non-empty string, got {value!r}")
    return value


def _unknown(mapping: dict, known: tuple[str, ...], where: str) -> None:
    extra = [str(k) for k in mapping if k not in known]
    if extra:
        warnings.warn(f"{where}: unknown keys {extra} (the Hub's specification has {', '.join(known)})", stacklevel=3)
