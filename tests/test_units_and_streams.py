"""Every output says its unit; outputs that cannot be written (a closed or full stdout, a full disk) are errors
naming what was written."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys

import pytest
from datasets import load_dataset

from pixret.cli import main

COMMAND = [sys.executable, "-c", "from pixret.cli import main; raise SystemExit(main())"]


@pytest.fixture(scope="module")
def files(tiny_dataset, tmp_path_factory):
    folder = tmp_path_factory.mktemp("streams")
    medium = load_dataset(str(tiny_dataset["out"]), "pairs", split="medium")
    entries = [{"query_id": r["query_id"], "index_id": r["index_id"], "segmentation": r["mask"]}
               for r in medium if r["positive"]]
    (folder / "preds.json").write_text(json.dumps(entries))
    return {"dataset": str(tiny_dataset["out"]), "preds": str(folder / "preds.json"), "medium": medium}


def _evaluate(files, *extra) -> list[str]:
    return ["evaluate", "--dataset", files["dataset"], "--predictions", files["preds"], "--resamples", "0", *extra]


# ---------------------------------------------------------------- units
def test_every_output_says_its_unit(files, custom_metric, capsys):
    split = files["medium"]
    result = custom_metric.compute(predictions=[{"mask": r["mask"]} if r["positive"] else None for r in split],
                                   references=split)
    assert result["unit"] == "fraction" and result["miou_seg"] == 1.0
    assert main(_evaluate(files, "--format", "json")) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["unit"] == "fraction" and document["medium"]["miou_seg"] == 1.0
    assert document["warnings"] == [] and document["notes"] == []
    for fmt in ("text", "markdown"):
        assert main(_evaluate(files, "--format", fmt)) == 0
        out = capsys.readouterr().out
        assert "100.00" in out and "figures in % (compute and the JSON give fractions in [0, 1])" in out


def test_json_carries_the_warnings_it_printed(files, tiny_dataset, tmp_path, capsys):
    entries = json.loads(open(files["preds"]).read())[3:]  # three positives without prediction
    (tmp_path / "p.json").write_text(json.dumps(entries))
    assert main(["evaluate", "--dataset", files["dataset"], "--predictions", str(tmp_path / "p.json"), "--format",
                 "json", "--resamples", "0"]) == 0
    out, err = capsys.readouterr()
    document = json.loads(out)
    printed = [line.removeprefix("warning: ") for line in err.splitlines() if line.startswith("warning: ")]
    assert printed and document["warnings"] == printed


# ---------------------------------------------------------------- outputs that cannot be written
def test_a_closed_stdout_is_an_error(files):
    run = subprocess.run(COMMAND + _evaluate(files), preexec_fn=lambda: os.close(1), stderr=subprocess.PIPE,
                         text=True, timeout=300)
    assert run.returncode == 1
    assert run.stderr.strip() == ("error: standard output is closed (>&-): what the command prints would be lost; "
                                  "redirect it to a file, or to /dev/null to discard it")


def test_a_full_stdout_is_an_error_naming_it(files):
    with open("/dev/full", "w") as full:
        run = subprocess.run(COMMAND + _evaluate(files), stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
    assert run.returncode == 1
    assert run.stderr.strip() == "error: cannot write standard output: the disk is full (No space left on device)"


def _small_files():
    """The child may write files of 200 bytes at most: a write past that fails (EFBIG), as a full disk does."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))


def test_an_output_the_disk_cannot_hold_is_an_error_naming_it(files, tmp_path):
    target = tmp_path / "per_query.csv"
    run = subprocess.run(COMMAND + _evaluate(files, "--per-query", str(target)), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, preexec_fn=_small_files, timeout=300)
    assert run.returncode == 1
    assert run.stderr.strip() == (f"error: cannot write {target}: the file is larger than allowed (file system or "
                                  "ulimit -f) (File too large)")
    assert list(tmp_path.iterdir()) == []  # no part of it
