"""PROxford / PRParis as Hub Benchmarks (https://huggingface.co/docs/hub/eval-results): eval.yaml from the registry
in every real build, checked by `pixret push dataset`; `pixret evaluate --eval-results` writing .eval_results/*.yaml;
`pixret push results` checking and uploading them; a round trip against ../shared/tools/hubemu."""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from pycocotools import mask as mask_utils
from datasets import load_dataset
import huggingface_hub
from huggingface_hub import DatasetCard

from pixret import __version__, dataset, hub_eval, synthetic
from pixret.build import build
from pixret.cli import main
from pixret.metric.core import benchmarks
from pixret.metric.core.benchmarks import BENCHMARKS, R1M_DISTRACTORS

pytestmark = pytest.mark.xdist_group("hub_eval")  # one worker: the module's build is made once
TOY, TOY_QUERIES = "pixtoy", 6  # a tiny world registered as a benchmark: its builds are "real", with an eval.yaml
# 6 queries: names of its own, so that the session's 4-query tiny_dataset stays custom data while it is registered
GENERATORS = Path(__file__).with_name("generators.py")  # (the generators fixture's module, for the child processes)
REGISTER = (f"benchmarks.register(__import__('runpy').run_path({str(GENERATORS)!r})['tiny_benchmark']({TOY!r}, "
            f"gnd=synthetic.tiny_gnd({TOY_QUERIES})))")


@pytest.fixture(scope="module")
def toy(tmp_path_factory, generators):
    """A real build of a registered benchmark, ground-truth predictions, and shuffled ranks (mAP below 100)."""
    gnd = synthetic.tiny_gnd(TOY_QUERIES)
    benchmarks.register(generators.tiny_benchmark(TOY, gnd=gnd))
    try:
        base = tmp_path_factory.mktemp("toy")
        synthetic.write_tiny_release(base / "release", benchmark=TOY, gnd=gnd)
        report = build(TOY, base / "release", base / "out")
        medium = load_dataset(str(base / "out"), "pairs", split="medium")
        predictions = [{"query_id": r["query_id"], "index_id": r["index_id"], "segmentation": r["mask"]}
                       for r in medium if r["mask"] is not None]
        (base / "preds.json").write_text(json.dumps(predictions))
        tiny_positive = synthetic.tiny_gnd()["gnd"][0]["easy"][0]  # a prediction for the 4-query tiny_dataset
        (base / "tiny.json").write_text(json.dumps([{"query_id": 0, "index_id": tiny_positive, "bbox": [0, 0, 9, 9]}]))
        ranks = np.stack([np.random.default_rng(q).permutation(12) for q in range(TOY_QUERIES)])
        np.save(base / "ranks.npy", ranks)
        distractor_ids = 12 + np.arange(8) * 1000  # ids after the index: R1M distractors interleaved
        np.save(base / "ranks_r1m.npy", np.stack([np.insert(row, [1, 3, 5, 7, 9, 11, 11, 12], distractor_ids)
                                                  for row in ranks]))
        unrecorded = {k: v for k, v in report.items() if k != "parquet_sha256"}  # an older pixret's report
        for name, says in (("relisted", {**report, "benchmark": None, "notes": ["its lists differ"]}),
                           ("unreported", None), ("unrecorded", unrecorded)):  # reports saying otherwise, or less
            shutil.copytree(base / "out", base / name)
            (base / name / "build_report.json").unlink()
            if says:
                (base / name / "build_report.json").write_text(json.dumps(says))
        os.mkfifo(base / "ranks.fifo")  # a pipe: read once only
        shutil.copytree(base / "out", base / "edited")  # one mask of the medium split redrawn after the build
        _edit_first_mask(base / "edited" / "pairs" / "medium-00000-of-00001.parquet")
        yield {"out": base / "out", "report": report, "preds": base / "preds.json", "ranks": base / "ranks.npy",
               "ranks_r1m": base / "ranks_r1m.npy", "base": base}
    finally:
        benchmarks.unregister(TOY)


def _edit_first_mask(path: Path) -> None:
    """Rewrite a pairs shard with its first mask replaced by an empty one (same rows, schema and metadata)."""
    table = pq.read_table(path)
    masks = table.column("mask").to_pylist()
    k = next(k for k, mask in enumerate(masks) if mask)
    empty = mask_utils.encode(np.zeros(masks[k]["size"], np.uint8, order="F"))["counts"].decode()
    masks[k] = {"size": masks[k]["size"], "counts": empty}
    column = pa.array(masks, type=table.schema.field("mask").type)
    pq.write_table(table.set_column(table.schema.get_field_index("mask"), "mask", column), path)


def _card_configs(folder: Path) -> tuple[dict, str]:
    configs = DatasetCard.load(folder / "README.md").data.configs
    return ({c["config_name"]: [f["split"] for f in c["data_files"]] for c in configs},
            next(c["config_name"] for c in configs if c.get("default")))


def _one_line_error(captured, pattern: str) -> None:
    err = captured.err.strip().splitlines()
    assert err and err[-1].startswith("error: ") and "Traceback" not in captured.err, captured.err
    assert not any(line.startswith("error: ") for line in err[:-1]), captured.err
    assert re.search(pattern, err[-1]), err[-1]


# ---------------------------------------------------------------- eval.yaml
@pytest.mark.parametrize("benchmark", ["proxford", "prparis"])
def test_eval_yaml_of_each_benchmark_follows_the_docs(benchmark, tiny_dataset, tmp_path):
    facts = BENCHMARKS[benchmark]
    doc = hub_eval.eval_yaml(benchmark, facts.hub_id)
    assert list(doc) == ["name", "description", "evaluation_framework", "tasks"]  # the spec's fields, no other
    assert doc["name"] == facts.pretty_name and doc["evaluation_framework"] == "pixret"
    description = doc["description"]
    assert len(re.findall(r"\.(?:\s|$)", description)) == 2  # one or two sentences: the Benchmark page's
    assert f"{facts.num_queries} queries" in description and f"{facts.index_size:,}-image index" in description
    assert all(task in description for task in ("P_map_det", "P_map_det_r1m", "P_miou_det", "P_miou_seg"))
    assert "medium or hard" in description and "1,001,001 R1M" in description and "percent" in description
    ids = [t["id"] for t in doc["tasks"]]
    assert ids == ["medium_map_det", "hard_map_det", "medium_map_det_r1m", "hard_map_det_r1m", "medium_miou_det",
                   "medium_miou_seg", "hard_miou_det", "hard_miou_seg"]
    assert all(t == {"id": t["id"], "config": "pairs", "split": t["id"].split("_")[0]} for t in doc["tasks"])
    path = tmp_path / "eval.yaml"
    path.write_text(hub_eval._dump(doc))
    assert yaml.safe_load(path.read_text()) == doc
    # every build has the same configs and splits: the tiny build's card is the one to check against
    assert hub_eval.check_eval_yaml(path, *_card_configs(tiny_dataset["out"])).startswith("eval.yaml: 8 tasks")


def test_a_real_build_has_eval_yaml_and_push_checks_it(toy, tiny_dataset, tmp_path, capsys):
    assert not (tiny_dataset["out"] / "eval.yaml").exists()  # custom data: not a benchmark, no leaderboard
    text = (toy["out"] / "eval.yaml").read_text()
    assert text.startswith("# PRPixtoy as a Hub Benchmark: https://huggingface.co/docs/hub/eval-results")
    doc = yaml.safe_load(text)
    assert doc == hub_eval.eval_yaml(TOY, f"pixret/{TOY}")
    assert main(["push", "dataset", str(toy["out"]), "--repo-id", f"pixret/{TOY}", "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert "ok: eval.yaml: 8 tasks, unique ids, their configs and splits in the card" in captured.out
    assert re.search(r"^  eval.yaml  [\d,]+ bytes  \(in a commit of its own, after the data\)$", captured.out, re.M)
    assert "warning" not in captured.err

    # a real build without eval.yaml is legal but would be no Benchmark: a warning says so
    folder = tmp_path / "old"
    shutil.copytree(toy["out"], folder)
    (folder / "eval.yaml").unlink()
    assert main(["push", "dataset", str(folder), "--repo-id", f"pixret/{TOY}", "--dry-run"]) == 0
    assert f"warning: {folder} has no eval.yaml: the dataset will not be a Hub Benchmark" in capsys.readouterr().err

    # custom data with an eval.yaml of its own: a warning; the synthetic demo: refused
    folder = tmp_path / "custom"
    shutil.copytree(tiny_dataset["out"], folder)
    (folder / "eval.yaml").write_text(text)
    assert main(["push", "dataset", str(folder), "--repo-id", "me/custom-demo", "--dry-run"]) == 0
    assert "is not one of the benchmarks (custom data): its eval.yaml registers it" in capsys.readouterr().err
    report = json.loads((folder / "build_report.json").read_text())
    (folder / "build_report.json").write_text(json.dumps({**report, "synthetic": True}))
    assert main(["push", "dataset", str(folder), "--repo-id", "me/custom-demo", "--dry-run"]) == 1
    _one_line_error(capsys.readouterr(), r"eval.yaml: a synthetic demo is not a benchmark: remove eval.yaml")


def _edit(doc_change=None, text_change=None):
    def edit(text: str) -> str:
        if doc_change:
            doc = yaml.safe_load(text)
            doc_change(doc)
            text = yaml.safe_dump(doc, sort_keys=False)
        return text_change(text) if text_change else text
    return edit


def _set(path, value):
    def change(doc):
        *parents, last = path
        target = doc
        for key in parents:
            target = target[key]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return change


BAD_EVAL_YAML = [
    ("not YAML", _edit(text_change=lambda t: t + "tasks: [unclosed\n"), r"eval.yaml: not valid YAML \(.*line \d+\)"),
    ("key twice", _edit(text_change=lambda t: t + "name: again\n"),
     r"eval.yaml: not valid YAML \(key 'name' given twice"),
    ("not a mapping", _edit(text_change=lambda t: "- name: x\n"), "eval.yaml: must be a mapping of name, description"),
    ("no name", _edit(_set(["name"], KeyError)), r"eval.yaml: name: missing \(required\)"),
    ("framework number", _edit(_set(["evaluation_framework"], 3)),
     "eval.yaml: evaluation_framework must be a non-empty"),
    ("no tasks", _edit(_set(["tasks"], KeyError)), r"eval.yaml: tasks: missing \(required\)"),
    ("tasks empty", _edit(_set(["tasks"], [])), "eval.yaml: tasks: must be a non-empty list"),
    ("task a string", _edit(_set(["tasks", 2], "medium")), r"eval.yaml: tasks\[2\]: must be a mapping of id, config"),
    ("task id number", _edit(_set(["tasks", 0, "id"], 3)), r"eval.yaml: tasks\[0\].id must be a non-empty string"),
    ("task id missing", _edit(_set(["tasks", 1, "id"], KeyError)), r"eval.yaml: tasks\[1\].id: missing \(required\)"),
    ("task ids repeat", _edit(_set(["tasks", 1, "id"], "medium_map_det")),
     r"eval.yaml: tasks\[1\].id 'medium_map_det' repeats tasks\[0\].id: task ids are unique"),
    ("unknown config", _edit(_set(["tasks", 0, "config"], "pair")),
     r"eval.yaml: tasks\[0\].config 'pair' is not a config of the dataset card \(index, pairs, preview, queries\)"),
    ("unknown split", _edit(_set(["tasks", 3, "split"], "validation")),
     r"eval.yaml: tasks\[3\].split 'validation' is not a split of config 'pairs' \(easy, medium, hard\)"),
    ("the default split", _edit(_set(["tasks", 0, "split"], KeyError)),
     r"eval.yaml: tasks\[0\].split 'test' \(the default\) is not a split of config 'pairs'"),
]


@pytest.mark.parametrize("name, edit, message", BAD_EVAL_YAML, ids=[c[0] for c in BAD_EVAL_YAML])
def test_push_dataset_names_the_field_of_a_bad_eval_yaml(toy, tmp_path, capsys, name, edit, message):
    folder = tmp_path / "ds"
    shutil.copytree(toy["out"], folder)
    (folder / "eval.yaml").write_text(edit((folder / "eval.yaml").read_text()))
    assert main(["push", "dataset", str(folder), "--repo-id", f"pixret/{TOY}", "--dry-run"]) == 1
    captured = capsys.readouterr()
    _one_line_error(captured, message)
    assert "would upload" not in captured.out and "load_dataset" not in captured.out  # before the slow checks


def test_eval_yaml_warnings(toy, tmp_path):
    doc = yaml.safe_load((toy["out"] / "eval.yaml").read_text())
    tasks = [{**doc["tasks"][0], "solvers": []}, {"id": "mine", "config": "pairs", "split": "easy"}, *doc["tasks"][2:]]
    path = tmp_path / "eval.yaml"
    path.write_text(hub_eval._dump({**doc, "evaluation_framework": "other", "leaderboard": True, "tasks": tasks}))
    with pytest.warns(UserWarning) as caught:
        hub_eval.check_eval_yaml(path, *_card_configs(toy["out"]), TOY)
    said = [str(w.message) for w in caught]
    assert said == [
        f"{path}: tasks[0]: unknown keys ['solvers'] (the Hub's specification has id, config, split)",
        f"{path}: unknown keys ['leaderboard'] (the Hub's specification has name, description, evaluation_framework, "
        "tasks)",
        f"{path}: evaluation_framework 'other': pixret datasets are scored by 'pixret'",
        f"{path}: its tasks differ from PRPixtoy's leaderboards; missing ['hard_map_det']; not pixret's ['mine'] "
        "(pixret build writes them all)"]
    # solvers are documented for inspect-ai's tasks; another dataset's eval.yaml read for its task ids says nothing
    text = hub_eval._dump({**doc, "evaluation_framework": "inspect-ai", "tasks": tasks})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hub_eval.read_eval_yaml(text, "eval.yaml")
        hub_eval.read_eval_yaml(hub_eval._dump({**doc, "x": 1}), "eval.yaml", warn=False)


# ---------------------------------------------------------------- pixret evaluate --eval-results
def _evaluate(toy, *extra) -> int:
    return main(["evaluate", "--dataset", str(toy["out"]), "--predictions", str(toy["preds"]), *extra])


def _written(folder: Path) -> dict:
    """{task id: the one entry}, parsed with huggingface_hub's own reader of the format."""
    out = {}
    for path in sorted((folder / ".eval_results").glob("*.yaml")):
        entries = [SimpleNamespace(**e) for e in hub_eval.parse_entries(yaml.safe_load(path.read_text()))]
        assert len(entries) == 1 and path.name == f"pixret--{TOY}--{entries[0].task_id}.yaml"
        out[entries[0].task_id] = entries[0]
    return out


def test_evaluate_writes_one_file_per_leaderboard_task(toy, tmp_path, capsys):
    folder = tmp_path / "my-model"
    assert _evaluate(toy, "--ranks", str(toy["ranks"]), "--format", "json", "--eval-results", str(folder)) == 0
    captured = capsys.readouterr()
    figures = json.loads(captured.out)
    written = _written(folder)
    assert sorted(written) == sorted(["medium_map_det", "hard_map_det", "medium_miou_det", "medium_miou_seg",
                                      "hard_miou_det", "hard_miou_seg"])
    for task_id, entry in written.items():
        protocol, figure = task_id.split("_", 1)
        assert entry.value == round(100 * figures[protocol][figure], 2)  # percent, as the paper's tables
        assert entry.dataset_id == f"pixret/{TOY}" and entry.dataset_revision is None  # a local build: no commit
        assert entry.source_url is None and entry.verify_token is None
        age = datetime.datetime.now(datetime.timezone.utc) - datetime.datetime.fromisoformat(
            entry.date.replace("Z", "+00:00"))
        assert datetime.timedelta(0) <= age < datetime.timedelta(minutes=5)
        assert entry.notes == f"pixret {__version__}, official, {protocol}"  # a short setup tag
        assert f"wrote {folder / '.eval_results' / f'pixret--{TOY}--{task_id}.yaml'}" in captured.err
    assert 0 < written["hard_map_det"].value < 100 and written["medium_miou_seg"].value == 100.0
    text = (folder / ".eval_results" / f"pixret--{TOY}--medium_map_det.yaml").read_text()
    # the provenance in the file's comments (the model repo has it; the leaderboard shows the tag)
    assert text.startswith(f"# PRPixtoy medium: pixel mAP@50:5:95 (detection IoU), percent\n"
                           f"# scored by pixret {__version__}: the official evaluation (= the authors' released code), "
                           f"all {TOY_QUERIES} queries\n# data: a local build, its Parquet shards as built (built by "
                           f"pixret {__version__} on {toy['report']['built_at']}; sha256 of its sources: ")
    assert toy["report"]["sources"][0]["sha256"][:12] in text.splitlines()[2]
    assert re.search(r"^  date: '\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ'$", text, re.M)  # a quoted string, as the spec asks
    assert sum(map(len, hub_eval.read_eval_results(folder).values())) == 6

    # the same model with the R1M distractors: its mIoU files are those of the run above, replaced only when asked
    args = ["--ranks", str(toy["ranks_r1m"]), "--distractors", str(R1M_DISTRACTORS), "--format", "json",
            "--eval-results", str(folder)]
    assert _evaluate(toy, *args) == 1
    assert "medium_miou_det.yaml exists; pass --overwrite to replace it" in capsys.readouterr().err
    assert _written(folder) == written  # refused before anything was written
    # with --overwrite: the _r1m tasks, and the files of the run above that stay are pointed out
    assert _evaluate(toy, *args, "--overwrite") == 0
    captured = capsys.readouterr()
    r1m = _written(folder)
    assert r1m["medium_map_det_r1m"].value == round(100 * json.loads(captured.out)["medium"]["map_det"], 2)
    assert r1m["medium_map_det_r1m"].value < written["medium_map_det"].value  # the distractors cost something
    assert r1m["hard_map_det_r1m"].notes.endswith(", hard, R1M") and "R1M" not in r1m["hard_miou_det"].notes
    assert "ranks over the index and the R1M distractors" in (
        folder / ".eval_results" / f"pixret--{TOY}--hard_map_det_r1m.yaml").read_text().splitlines()[1]
    assert (f"also holds pixret--{TOY}--hard_map_det.yaml, pixret--{TOY}--medium_map_det.yaml, from an earlier "
            "evaluation: `pixret push results` publishes every file there") in captured.err

    # without ranks there is no pixel mAP to publish; a box-only method has no mask IoU
    boxes = [{k: p[k] for k in ("query_id", "index_id")} | {"bbox": [0, 0, 20, 20]}
             for p in json.loads(toy["preds"].read_text())]
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    assert main(["evaluate", "--dataset", str(toy["out"]), "--predictions", str(tmp_path / "boxes.json"),
                 "--eval-results", str(tmp_path / "boxes")]) == 0
    assert sorted(_written(tmp_path / "boxes")) == ["hard_miou_det", "medium_miou_det"]


def test_evaluate_source_flags_fill_the_entries_source(toy, tmp_path, capsys):
    folder = tmp_path / "sourced"
    assert _evaluate(toy, "--eval-results", str(folder), "--source-url", "https://example.org/my-paper",
                     "--source-name", "My paper (CVPR 2027)") == 0
    entries = _written(folder)
    assert sorted(entries) == ["hard_miou_det", "hard_miou_seg", "medium_miou_det", "medium_miou_seg"]
    assert all(e.source_url == "https://example.org/my-paper" and e.source_name == "My paper (CVPR 2027)"
               and e.source_user is None for e in entries.values())
    text = (folder / ".eval_results" / f"pixret--{TOY}--hard_miou_seg.yaml").read_text()
    assert "  source:\n    url: https://example.org/my-paper\n    name: My paper (CVPR 2027)\n" in text
    capsys.readouterr()


BAD_EVALUATIONS = [
    ("custom data", lambda t, tiny: ["--dataset", str(tiny), "--predictions", str(t / "tiny.json"),
                                  "--eval-results", str(t / "m")],
     r"error: .*tiny.* is not one of the benchmarks \(custom data by its query names\): it has no leaderboard"),
    ("lists differ", lambda t, tiny: ["--dataset", str(t / "relisted"), "--eval-results", str(t / "m")],
     r"relisted has PRPixtoy's queries but its build report says it is not the benchmark \(its lists differ\)"),
    ("no build report", lambda t, tiny: ["--dataset", str(t / "unreported"), "--eval-results", str(t / "m")],
     r"unreported has no build report: nothing says which data it is built from"),
    ("a subset", lambda t, tiny: ["--queries", "0", "1", "--eval-results", str(t / "m")],
     r"figures over a subset of the queries \(--queries \[\.\.\.\]\) are not the benchmark's figures"),
    ("unofficial", lambda t, tiny: ["--ranks", str(t / "ranks.npy"), "--unofficial", "--eval-results", str(t / "m")],
     "--unofficial changes pixel mAP's denominator"),
    ("other distractors", lambda t, tiny: ["--ranks", str(t / "ranks.npy"), "--distractors", "5", "--eval-results",
                                        str(t / "m")], r"--distractors 5 is not R1M \(1001001\)"),
    ("easy only", lambda t, tiny: ["--protocols", "easy", "--eval-results", str(t / "m")],
     r"no leaderboard figure among these results: the tasks are medium_map_det, .* \(the protocols medium and hard"),
    ("a file", lambda t, tiny: ["--eval-results", str(t / "preds.json")], "preds.json exists and is not a folder"),
    ("R1M without distractors", lambda t, tiny: ["--ranks", str(t / "ranks.npy"), "--distractors", "1001001",
                                                 "--eval-results", str(t / "m")],
     r"--distractors 1001001 \(R1M\), but no ranks row holds an id past the index \(12 images; the highest id is 11\)"),
    ("R1M ranks from a pipe", lambda t, tiny: ["--ranks", str(t / "ranks.fifo"), "--distractors", "1001001",
                                               "--eval-results", str(t / "m")],
     r"--eval-results with --distractors .*/ranks.fifo is not a regular file \(a pipe\?\); save the ranks to a file"),
    ("edited since the build", lambda t, tiny: ["--dataset", str(t / "edited"), "--eval-results", str(t / "m")],
     r"edited: its data changed since it was built \(pairs/medium-00000-of-00001.parquet edited\): figures on it are "
     r"not PRPixtoy's; rebuild it with `pixret build`, or evaluate on pixret/pixtoy"),
    ("no shard digests", lambda t, tiny: ["--dataset", str(t / "unrecorded"), "--eval-results", str(t / "m")],
     r"unrecorded/build_report.json: records no SHA-256 of the build's Parquet shards \(built by pixret .*\): nothing "
     "says the data is as built"),
    ("source name alone", lambda t, tiny: ["--eval-results", str(t / "m"), "--source-name", "logs"],
     "--source-name names the link --source-url gives: pass --source-url too"),
    ("source not a link", lambda t, tiny: ["--eval-results", str(t / "m"), "--source-url", "logs/run1"],
     r"--source-url 'logs/run1' is not an http\(s\) link"),
    ("source without results", lambda t, tiny: ["--source-url", "https://example.org"],
     "--source-url describes the leaderboard files: pass --eval-results DIR too"),
    ("inside the dataset", lambda t, tiny: ["--eval-results", str(t / "out" / "m")],
     r"--eval-results .*/m/\.eval_results is inside the input"),
]


def test_leaderboard_checks_say_the_parameters():
    """The checks ``eval_results_files`` runs first, called by a Python user: messages in its parameters (the CLI
    says them as flags, above)."""
    data = SimpleNamespace(benchmark="proxford", spec="my/data", local=False, report=None)
    hub_eval._check_leaderboard_data(data)
    hub_eval._check_leaderboard_setup({"medium": {}}, True, R1M_DISTRACTORS)
    for checked, message in [
            (lambda: hub_eval._check_leaderboard_data(SimpleNamespace(**{**vars(data), "benchmark": "custom"})),
             r"^my/data is not one of the benchmarks"),
            (lambda: hub_eval._check_leaderboard_data(SimpleNamespace(**{**vars(data), "local": True})),
             r"^my/data has no build report"),
            (lambda: hub_eval._check_leaderboard_setup({"medium": {}}, False, 0), r"^official=False changes pixel mAP"),
            (lambda: hub_eval._check_leaderboard_setup({"medium": {"subset": [1]}}, True, 0),
             r"\(queries=\[\.\.\.\]\) are not the benchmark's figures"),
            (lambda: hub_eval._check_leaderboard_setup({"medium": {}}, True, 5), r"^distractors=5 is not R1M")]:
        with pytest.raises(hub_eval.EvalResultsError, match=message) as err:
            checked()
        assert "--" not in str(err.value)


@pytest.mark.parametrize("name, argv, message", BAD_EVALUATIONS, ids=[c[0] for c in BAD_EVALUATIONS])
def test_evaluate_refuses_what_is_no_leaderboard_figure(toy, tiny_dataset, capsys, name, argv, message):
    assert _evaluate(toy, *argv(toy["base"], tiny_dataset["out"])) == 1
    captured = capsys.readouterr()
    _one_line_error(captured, message)
    assert not (toy["base"] / "m").exists() and not (toy["out"] / "m").exists() and captured.out == ""


def test_evaluate_writes_the_leaderboard_files_last_or_not_at_all(toy, tmp_path, capsys):
    """A --per-query file that cannot be written (here: a file size limit, as a full disk would) leaves no
    leaderboard file: they are written whole under temporary names first and put in place last."""
    args = ["--ranks", str(toy["ranks"]), "--protocols", "easy", "medium", "hard"]
    assert _evaluate(toy, *args, "--eval-results", str(tmp_path / "sizes"), "--per-query",
                     str(tmp_path / "sizes.csv")) == 0
    capsys.readouterr()
    biggest = max(p.stat().st_size for p in (tmp_path / "sizes" / ".eval_results").iterdir())
    per_query = (tmp_path / "sizes.csv").stat().st_size
    assert biggest < per_query, (biggest, per_query)  # the limit below stops the CSV only
    folder, csv = tmp_path / "model", tmp_path / "per_query.csv"
    done = _limited_evaluate(toy, (biggest + per_query) // 2, *args, "--eval-results", str(folder), "--per-query",
                             str(csv))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: ") and "File too large" in done.stderr
    assert not folder.exists() and not csv.exists()  # no leaderboard file, no staged one, no folder made for them
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sizes", "sizes.csv"]


def test_staged_files_are_all_or_none(tmp_path):
    """The second of two files fails (a file size limit, as a full disk): neither stays, nor their folder."""
    target = tmp_path / "out" / ".eval_results"
    code = f"""
        import resource, sys
        from pathlib import Path
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
        from pixret import hub_eval
        try:
            hub_eval.stage_files({{Path({str(target / "a.yaml")!r}): "a" * 10,
                                  Path({str(target / "b.yaml")!r}): "b" * 5000}})
        except hub_eval.EvalResultsError as err:
            print("REFUSED", err)
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert f"REFUSED {target / 'b.yaml'}: cannot be written (File too large)" in done.stdout, done.stdout + done.stderr
    assert not (tmp_path / "out").exists()
    with hub_eval.stage_files({target / "a.yaml": "a", target / "b.yaml": "b"}) as staged:
        assert sorted(p.name for p in target.iterdir() if not p.name.startswith(".")) == []  # staged, not in place
        assert staged.commit() == [target / "a.yaml", target / "b.yaml"]
    assert sorted(p.name for p in target.iterdir()) == ["a.yaml", "b.yaml"] and (target / "b.yaml").read_text() == "b"
    with hub_eval.stage_files({target / "a.yaml": "new"}):
        pass  # never committed: the earlier file stays as it was, no temporary file is left
    assert sorted(p.name for p in target.iterdir()) == ["a.yaml", "b.yaml"] and (target / "a.yaml").read_text() == "a"


def _limited_evaluate(toy, limit: int, *args) -> subprocess.CompletedProcess:
    """`pixret evaluate` on the toy build in a process whose files may not grow past ``limit`` bytes."""
    code = f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
        from pixret import synthetic
        from pixret.metric.core import benchmarks
        {REGISTER}
        from pixret.cli import main
        sys.exit(main({["evaluate", "--dataset", str(toy["out"]), "--predictions", str(toy["preds"]), *args]!r}))
    """
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})


# ---------------------------------------------------------------- the data a figure is of
def test_the_build_report_records_every_parquet_shard(toy, tmp_path):
    out = toy["out"]
    recorded = json.loads((out / "build_report.json").read_text())["parquet_sha256"]
    assert recorded == toy["report"]["parquet_sha256"] == dataset.parquet_sha256(out)
    assert sorted(recorded) == sorted(p.relative_to(out).as_posix() for p in out.glob("*/*.parquet"))
    assert {name.split("/")[0] for name in recorded} == {"pairs", "queries", "index", "preview"}
    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in recorded.values())
    assert dataset.shards_changed(out, toy["report"]) == []
    assert dataset.shards_changed(toy["base"] / "edited", toy["report"]) == [
        "pairs/medium-00000-of-00001.parquet edited"]
    moved = tmp_path / "moved"
    shutil.copytree(out, moved)
    (moved / "pairs" / "hard-00000-of-00001.parquet").rename(moved / "pairs" / "hard-00000-of-00002.parquet")
    assert dataset.shards_changed(moved, toy["report"]) == ["pairs/hard-00000-of-00001.parquet missing",
                                                            "pairs/hard-00000-of-00002.parquet added"]


def test_compare_of_two_copies_checks_the_ground_truth(toy, tmp_path, capsys):
    """The same predictions on a copy whose ground truth differs would score other figures: refused."""
    copy = tmp_path / "copy"
    shutil.copytree(toy["out"], copy)
    local, edited = dataset.open_dataset(str(toy["out"])), dataset.open_dataset(str(toy["base"] / "edited"))
    assert local.ground_truth_sha256() == dataset.open_dataset(str(copy)).ground_truth_sha256()
    assert local.ground_truth_sha256(["hard"]) == edited.ground_truth_sha256(["hard"])  # the edit is in medium
    assert local.ground_truth_sha256() != edited.ground_truth_sha256()
    boxes = [{k: p[k] for k in ("query_id", "index_id")} | {"bbox": [0, 0, 20, 20]}
             for p in json.loads(toy["preds"].read_text())]
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    base = ["compare", "--predictions", str(toy["preds"]), str(tmp_path / "boxes.json"), "--resamples", "200",
            "--format", "json"]
    assert main([*base, "--dataset", str(toy["out"]), str(copy)]) == 0
    assert json.loads(capsys.readouterr().out)["protocols"]["medium"]["figures"]["miou_det"]["a"] == 1.0
    assert main([*base, "--dataset", str(toy["out"]), str(toy["base"] / "edited")]) == 1
    _one_line_error(capsys.readouterr(), r"the two datasets have the same queries but other ground truth: .*/out and "
                                         r".*/edited differ in the masks, lists or image sizes of medium / hard "
                                         r"\(SHA-256 [0-9a-f]{12} and [0-9a-f]{12}\)")
    assert main([*base, "--protocols", "hard", "--dataset", str(toy["out"]), str(toy["base"] / "edited")]) == 0
    capsys.readouterr()


# ---------------------------------------------------------------- entries by huggingface_hub's own helpers
ENTRY_CASES = [
    ({"dataset_id": "pixret/proxford", "task_id": "medium_map_det", "value": 33.5},
     {"dataset": {"id": "pixret/proxford", "task_id": "medium_map_det"}, "value": 33.5}),
    ({"dataset_id": "a/b", "task_id": "t", "value": 1.25, "dataset_revision": "0" * 40, "verify_token": "tok",
      "date": "2026-01-15T10:30:00Z", "source_url": "https://example.org", "source_name": "logs",
      "source_user": "me", "source_org": "lab", "notes": "pixret 1, official, hard"},
     {"dataset": {"id": "a/b", "task_id": "t", "revision": "0" * 40}, "value": 1.25, "verifyToken": "tok",
      "date": "2026-01-15T10:30:00Z", "source": {"url": "https://example.org", "name": "logs", "user": "me",
                                                 "org": "lab"}, "notes": "pixret 1, official, hard"}),
    ({"dataset_id": "a/b", "task_id": "t", "value": 0, "source_url": "https://example.org", "notes": None},
     {"dataset": {"id": "a/b", "task_id": "t"}, "value": 0, "source": {"url": "https://example.org"}}),
]


@pytest.mark.parametrize("fields, expected", ENTRY_CASES)
def test_entries_are_what_huggingface_hub_makes_and_reads(fields, expected):
    """Entries by huggingface_hub's own helpers: the schema's keys, in its order; read back to the same fields."""
    as_yaml = hub_eval._dump([expected])
    assert hub_eval._dump(hub_eval.result_entries([fields])) == as_yaml
    made = huggingface_hub.eval_result_entries_to_yaml([huggingface_hub.EvalResultEntry(**fields)])
    assert hub_eval._dump(made) == as_yaml
    assert hub_eval.parse_entries([expected]) == [{key: fields.get(key) for key in hub_eval.ENTRY_FIELDS}]


def test_an_entry_source_needs_its_url():
    with pytest.raises(ValueError, match="source_url"):  # huggingface_hub's own rule
        hub_eval.result_entries([{"dataset_id": "a/b", "task_id": "t", "value": 1, "source_name": "x"}])
    with pytest.raises(hub_eval.EvalResultsError, match="source_name 'x' needs source_url"):
        hub_eval.check_source(None, "x")
    with pytest.raises(hub_eval.EvalResultsError, match=r"source_url 'ftp://x' is not an http\(s\) link"):
        hub_eval.check_source("ftp://x", None)


# ---------------------------------------------------------------- the Hub's verdict, read back
def test_the_hubs_verdict_per_file():
    """The model API's evalResults, as the Hub sends them: a valid file's entries, a rejected file's error, a pull
    request's own entries."""
    listed = [
        {"filename": ".eval_results/a.yaml", "verified": False, "data": GOOD},
        {"filename": ".eval_results/b.yaml", "error": "✖ Invalid input: expected string, received null\n  → at "
                                                      "[0].source.url"},
        {"filename": ".eval_results/a.yaml", "verified": True, "pullRequest": 7, "data": {**GOOD, "value": 40.0}},
        {"filename": ".eval_results/other.yaml", "data": GOOD},
        "not an item",
    ]
    files = [".eval_results/a.yaml", ".eval_results/b.yaml", ".eval_results/c.yaml"]
    main_branch = hub_eval.read_verdicts(listed, files)
    assert [(v.file, v.valid, v.said) for v in main_branch] == [
        (".eval_results/a.yaml", True, "pixret/proxford medium_map_det = 33.5"),
        (".eval_results/b.yaml", False, "✖ Invalid input: expected string, received null → at [0].source.url"),
        (".eval_results/c.yaml", None, "the Hub may read it later: look at the model page")]
    assert main_branch[0].entries[0]["source_url"] == "https://example.org/logs"
    assert [hub_eval.describe_verdict(v) for v in main_branch] == [
        ".eval_results/a.yaml: valid: pixret/proxford medium_map_det = 33.5",
        ".eval_results/b.yaml: INVALID: ✖ Invalid input: expected string, received null → at [0].source.url",
        ".eval_results/c.yaml: not listed: the Hub may read it later: look at the model page"]
    in_pull_request = hub_eval.read_verdicts(listed, files[:1], pull_request=7)
    assert [(v.valid, v.said) for v in in_pull_request] == [(True, "pixret/proxford medium_map_det = 40.0 (verified)")]


# ---------------------------------------------------------------- pixret push results: the files
GOOD = {"dataset": {"id": "pixret/proxford", "task_id": "medium_map_det"}, "value": 33.5,
        "date": "2026-01-15T10:30:00Z", "source": {"url": "https://example.org/logs", "name": "logs"}, "notes": "x"}


def _with(change) -> dict:
    entry = json.loads(json.dumps(GOOD))
    change(entry)
    return entry


def _files(*entries, name="a.yaml", text=None):
    return {name: text if text is not None else yaml.safe_dump(list(entries), sort_keys=False)}


BAD_RESULTS = [
    ("value missing", _files(_with(lambda e: e.pop("value"))), r"a.yaml: entry 0: value: missing \(required\)"),
    ("value a string", _files(_with(lambda e: e.update(value="33.5"))),
     "entry 0: value must be a finite number, got '33.5'"),
    ("value a bool", _files(_with(lambda e: e.update(value=True))), "entry 0: value must be a finite number, got True"),
    ("value nan", _files(text="- dataset: {id: a/b, task_id: t}\n  value: .nan\n"),
     "value must be a finite number, got nan"),
    ("value not percent", _files(_with(lambda e: e.update(value=133.5))),
     r"value 133.5 is not a percentage \(0..100\), as PROxford's leaderboards hold"),
    ("date unquoted", _files(text="- dataset: {id: a/b, task_id: t}\n  value: 1\n  date: 2025-01-15\n"),
     r"entry 0: date 2025-01-15 must be a quoted string \(YAML read it as a date\), e.g. \"2025-01-15\""),
    ("date not ISO", _files(_with(lambda e: e.update(date="yesterday"))), "date 'yesterday' is not an ISO-8601 date"),
    ("no dataset", _files(_with(lambda e: e.pop("dataset"))), r"entry 0: dataset: missing \(required\)"),
    ("dataset id no owner", _files(_with(lambda e: e["dataset"].update(id="proxford"))),
     r"dataset.id 'proxford' is not a Hub dataset id \(owner/name\)"),
    ("no task id", _files(_with(lambda e: e["dataset"].pop("task_id"))), r"entry 0: dataset.task_id: missing"),
    ("source without url", _files(_with(lambda e: e["source"].pop("url"))), r"entry 0: source.url: missing"),
    ("source url not http", _files(_with(lambda e: e["source"].update(url="logs/run1"))),
     r"source.url 'logs/run1' is not an http\(s\) link"),
    ("notes a list", _files(_with(lambda e: e.update(notes=["a"]))), r"notes must be a non-empty string, got \['a'\]"),
    ("second entry", _files(GOOD, "medium"), "a.yaml: entry 1: must be a mapping of dataset, value"),
    ("not a list", _files(text=yaml.safe_dump(GOOD)), "a.yaml: must be a non-empty list of results"),
    ("empty", _files(text="[]\n"), "a.yaml: must be a non-empty list of results"),
    ("key twice", _files(text="- value: 1\n  value: 2\n"),
     r"a.yaml: not valid YAML \(key 'value' given twice, line 2\)"),
    ("not YAML", _files(text="- {dataset: \n"), r"a.yaml: not valid YAML \("),
    ("two values of a task", {**_files(GOOD), **_files(_with(lambda e: e.update(value=40.0)), name="b.yaml")},
     r"b.yaml: entry 0: a second value for dataset pixret/proxford task medium_map_det \(the first: a.yaml entry 0\)"),
    (".yml", _files(GOOD, name="a.yml"), r"a.yml: the Hub reads .eval_results/\*.yaml; rename to .yaml"),
]


def _results_dir(tmp_path, files: dict, inside=".eval_results") -> Path:
    folder = tmp_path / "model"
    (folder / inside).mkdir(parents=True)
    for name, text in files.items():
        (folder / inside / name).write_text(text)
    return folder


@pytest.mark.parametrize("name, files, message", BAD_RESULTS, ids=[c[0] for c in BAD_RESULTS])
def test_push_results_names_the_field_of_a_bad_file(tmp_path, capsys, monkeypatch, name, files, message):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = _results_dir(tmp_path, files)
    assert main(["push", "results", str(folder), "--model-repo", "me/matcher", "--dry-run"]) == 1
    captured = capsys.readouterr()
    _one_line_error(captured, re.escape(str(folder / ".eval_results")) + ".*" + message)
    assert "would upload" not in captured.out


BAD_PUSH = [
    ("no model repo", ["push", "results", "{dir}"], "push results: name the model with --model-repo OWNER/MODEL$"),
    ("repo id", ["push", "results", "{dir}", "--repo-id", "a/b"], r"--model-repo OWNER/MODEL \(--repo-id is for"),
    ("model repo id", ["push", "results", "{dir}", "--model-repo", "a/b/c"], "--model-repo 'a/b/c'"),
    ("no folder", ["push", "results", "--model-repo", "a/b"], "push results: name the folder holding .eval_results/"),
    ("dataset with model", ["push", "dataset", "{dir}", "--repo-id", "a/b", "--model-repo", "c/d"],
     "push dataset: --model-repo and --create-pr are for push results"),
    ("dataset without repo", ["push", "dataset", "{dir}"], "push dataset: --repo-id is required"),
    ("no .eval_results", ["push", "results", "{dir}/.eval_results", "--model-repo", "a/b"],
     r"\.eval_results: no \.eval_results/ folder .*; it holds a.yaml directly: pass the folder above"),
]


@pytest.mark.parametrize("name, argv, message", BAD_PUSH, ids=[c[0] for c in BAD_PUSH])
def test_push_results_usage_errors(tmp_path, capsys, monkeypatch, name, argv, message):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = _results_dir(tmp_path, _files(GOOD))
    assert main([a.replace("{dir}", str(folder)) for a in argv] + ["--dry-run"]) == 1
    _one_line_error(capsys.readouterr(), message)


def test_push_results_dry_run_and_warnings(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fraction = _with(lambda e: (e.update(value=0.335, verifyToken="t", extra=1), e["dataset"].update(revision="main")))
    folder = _results_dir(tmp_path, {**_files(_with(lambda e: e.update(value=0.9))), **_files(fraction, name="b.yaml"),
                                     "notes.txt": "x"})
    (folder / ".eval_results" / "b.yaml").write_text((folder / ".eval_results" / "b.yaml").read_text().replace(
        "medium_map_det", "hard_map_det"))
    assert main(["push", "results", str(folder), "--model-repo", "me/matcher", "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert "ok: 2 eval results files, 2 results: the Hub's schema, one value per dataset task" in captured.out
    assert "would upload 2 files (0.0 MB) to model me/matcher:\n  .eval_results/a.yaml  " in captured.out
    where = folder / ".eval_results"
    for said in (f"{where}: notes.txt are not .yaml files: not uploaded",
                 f"{where}: every value on the benchmarks' leaderboards is at most 1 (2 values): they look like "
                 "fractions, and the leaderboards are in percent",
                 f"{where / 'b.yaml'}: entry 0: dataset.revision 'main' is not a commit hash",
                 f"{where / 'b.yaml'}: entry 0: unknown keys ['extra']"):
        assert said in captured.err, captured.err
    assert "not checked in a dry run: that the model exists and the datasets' eval.yaml define" in captured.out


# ---------------------------------------------------------------- against the Hub emulator
def _process(hub, hf_home, args, ok=True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, env=hub.env(hf_home), capture_output=True, text=True, timeout=300)
    assert (result.returncode == 0) == ok, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _python(hub, hf_home, code, ok=True) -> subprocess.CompletedProcess:
    return _process(hub, hf_home, [sys.executable, "-c", textwrap.dedent(code)], ok)


def test_results_round_trip_against_hubemu(hub, toy, tmp_path):
    """Push the data, then eval.yaml in a commit of its own; evaluate by hub id; push the results; read back the
    files and the Hub's verdict."""
    folder, wrong = tmp_path / "matcher", tmp_path / "wrong"
    # the dataset: its data, then its eval.yaml (checked) in a commit of its own; a refused eval.yaml (here a
    # commit on a stale parent, as the Hub answers one it will not take) leaves the data as it is
    done = _python(hub, tmp_path / "hf-push", f"""
        from pixret import synthetic, hub_eval
        from pixret.metric.core import benchmarks
        {REGISTER}
        from huggingface_hub import HfApi
        from pixret.cli import main
        assert main(["push", "dataset", {str(toy["out"])!r}, "--repo-id", "pixret/{TOY}"]) == 0
        api, repo = HfApi(), "pixret/{TOY}"
        commits = api.list_repo_commits(repo, repo_type="dataset")
        print("TITLES", [c.title for c in commits])
        print("BEFORE", sorted(api.list_repo_files(repo, repo_type="dataset", revision=commits[1].commit_id)))
        print("AFTER", sorted(api.list_repo_files(repo, repo_type="dataset")))
        changed = {str(tmp_path / "eval.yaml")!r}  # another eval.yaml (the same one would be no commit at all)
        open(changed, "w").write(open({str(toy["out"] / "eval.yaml")!r}).read() + "# changed\\n")
        url, refused = hub_eval.upload_eval_yaml(api, repo, changed, parent_commit=commits[1].commit_id)
        print("REFUSED", url, refused)
        print("STILL", len(api.list_repo_commits(repo, repo_type="dataset")),
              sorted(api.list_repo_files(repo, repo_type="dataset")))
        api.create_repo("someone/pixel-matcher")
        api.create_repo("someone/fine-tuned")
        api.upload_file(path_or_fileobj=b"---\\nbase_model: someone/pixel-matcher\\n---\\n# fine-tuned\\n",
                        path_in_repo="README.md", repo_id="someone/fine-tuned")
    """)
    out = done.stdout
    assert f"eval.yaml, in its own commit after the data: {hub.endpoint}/datasets/pixret/{TOY}/commit/" in out
    titles = re.search(r"^TITLES (.*)$", out, re.M).group(1)
    assert titles.startswith("['Add eval.yaml (a Hub Benchmark) with pixret push', 'Upload dataset with pixret push'")
    before, after = (eval(re.search(rf"^{key} (.*)$", out, re.M).group(1)) for key in ("BEFORE", "AFTER"))
    assert "eval.yaml" not in before and "pairs/medium-00000-of-00001.parquet" in before
    assert sorted(after) == sorted(before + ["eval.yaml"])  # the second commit adds eval.yaml and nothing else
    refused = re.search(r"^REFUSED (.*)$", out, re.M).group(1)
    assert refused.startswith("None the Hub refused eval.yaml (412: A commit has happened since. Please refresh and "
                              "try again.): the dataset is uploaded, but it is no Hub Benchmark until the Hub takes "
                              "its eval.yaml, which needs 'pixret' on the Hub's evaluation-framework list and the "
                              "dataset on its Benchmark allow-list (docs/hub-registration.md says what to send)"), (
        refused)
    assert re.search(r"^STILL (\d+) (.*)$", out, re.M).groups() == (str(len(eval(titles))), str(after))

    # in a process with an empty HF_HOME, the model evaluated on the dataset by hub id, its results pushed
    done = _python(hub, tmp_path / "hf-eval", f"""
        import json, shutil, sys
        from pixret import synthetic
        from pixret.metric.core import benchmarks
        {REGISTER}
        from huggingface_hub import HfApi
        from pixret.cli import main
        evaluate = ["evaluate", "--dataset", "hub:pixret/{TOY}", "--predictions", {str(toy["preds"])!r}]
        assert main(evaluate + ["--ranks", {str(toy["ranks"])!r}, "--format", "json", "--eval-results",
                                {str(folder)!r}, "--source-url", "https://example.org/matcher", "--source-name",
                                "Matcher paper"]) == 0
        assert main(["push", "results", {str(folder)!r}, "--model-repo", "someone/pixel-matcher"]) == 0
        print("SHA", HfApi().dataset_info("pixret/{TOY}").sha)
        assert main(["push", "results", {str(folder)!r}, "--model-repo", "someone/fine-tuned"]) == 0
        assert main(["push", "results", {str(folder)!r}, "--model-repo", "someone/no-such-model"]) == 1
        shutil.copytree({str(folder)!r}, {str(wrong)!r})
        path = {str(wrong / ".eval_results" / f"pixret--{TOY}--hard_miou_det.yaml")!r}
        text = open(path).read().replace("task_id: hard_miou_det", "task_id: hard_miou")
        open(path, "w").write(text)
        assert main(["push", "results", {str(wrong)!r}, "--model-repo", "someone/pixel-matcher"]) == 1
    """)
    out, err = done.stdout, done.stderr
    commit = re.search(r"^SHA ([0-9a-f]{40})$", out, re.M).group(1)
    assert "ok: model someone/pixel-matcher exists" in out
    assert f"ok: pixret/{TOY} is a Benchmark defining the 6 results' tasks" in out
    assert "uploading 6 files (0.0 MB) to model someone/pixel-matcher as hubemu:" in out
    # the verdict read back: the emulator's model API has no evalResults, and the command says so
    assert out.count("the Hub reports no verdict on eval results files (its model API has no evalResults here): "
                     "look at the model page for someone/") == 2
    assert ("warning: someone/fine-tuned's model card declares base_model someone/pixel-matcher: the Hub's "
            "leaderboards hide models with a base model by default") in err
    assert "pixel-matcher's model card" not in err
    assert "error: --model-repo someone/no-such-model: no such model on the Hub" in err
    assert (f"pixret--{TOY}--hard_miou_det.yaml entry 0: dataset.task_id 'hard_miou' is not a task of pixret/{TOY} "
            "(its eval.yaml: medium_map_det, hard_map_det, medium_map_det_r1m") in err
    figures = json.loads(out[out.index("{"):out.index("\n}") + 2])

    # read back by hub id, in a fresh process with a fresh HF_HOME, as huggingface_hub reads the files; the Hub's
    # copy of the data holds the ground truth of the local build
    out = _python(hub, tmp_path / "hf-fresh", f"""
        import json, yaml
        from huggingface_hub import HfApi, hf_hub_download
        from pixret import dataset, hub_eval, synthetic
        from pixret.metric.core import benchmarks
        {REGISTER}
        files = [f for f in HfApi().list_repo_files("someone/pixel-matcher") if f.startswith(".eval_results/")]
        texts = {{f: open(hf_hub_download("someone/pixel-matcher", f)).read() for f in files}}
        entries = [e for f in files for e in hub_eval.parse_entries(yaml.safe_load(texts[f]))]
        print(json.dumps([{{"file": f, "comments": texts[f].splitlines()[:3], **e}} for f, e in zip(files, entries)]))
        print("SAME", dataset.open_dataset("hub:pixret/{TOY}").ground_truth_sha256()
              == dataset.open_dataset({str(toy["out"])!r}).ground_truth_sha256())
    """).stdout
    assert "\nSAME True" in out
    entries = {e["task_id"]: e for e in json.loads(out.splitlines()[0])}
    assert sorted(entries) == sorted(["medium_map_det", "hard_map_det", "medium_miou_det", "medium_miou_seg",
                                      "hard_miou_det", "hard_miou_seg"])
    for task_id, entry in entries.items():
        protocol, figure = task_id.split("_", 1)
        assert entry["file"] == f".eval_results/pixret--{TOY}--{task_id}.yaml"
        assert entry["dataset_id"] == f"pixret/{TOY}" and entry["dataset_revision"] == commit  # the commit it loaded
        assert entry["value"] == round(100 * figures[protocol][figure], 2)
        assert entry["notes"] == f"pixret {__version__}, official, {protocol}"
        assert entry["source_url"] == "https://example.org/matcher" and entry["source_name"] == "Matcher paper"
        assert entry["comments"][2] == f"# data: pixret/{TOY} at commit {commit}"

    # pull requests: the emulator has none, and the command says so in one line
    done = _process(hub, tmp_path / "hf-pr", ["pixret", "push", "results", str(folder), "--model-repo",
                                              "someone/pixel-matcher", "--create-pr"], ok=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr == ("error: cannot open a pull request on model someone/pixel-matcher: the Hub answered 400: "
                           "hubemu: pull requests are not emulated\n")
    assert "uploading 6 files (0.0 MB) to model someone/pixel-matcher in a pull request as hubemu:" in done.stdout
