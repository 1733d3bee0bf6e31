"""The wheel, installed for real (non-editable) into a fresh venv, used from a folder outside the clone.

The wheel and its venv are the ``installed_wheel`` fixture; the demo that venv's `pixret` command ran outside the
clone is ``demo_run`` (the demo tests read the same run): here, what the wheel ships, and its metric and help."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("demo")  # the worker that has the wheel and the demo run


@pytest.mark.slow
def test_wheel_installs_and_works_outside_the_clone(installed_wheel, demo_run):
    names = set(zipfile.ZipFile(installed_wheel["wheel"]).namelist())
    for shipped in ("pixret/metric/module.py", "pixret/metric/core/rle.py", "pixret/metric/views/paper/table2_map.csv",
                    "pixret/templates/dataset_card.md", "proxford_prparis.py"):
        assert shipped in names, shipped
    assert not [name for name in names if name.startswith(("tests/", "metric/", "benchmarks/"))]
    assert "Table 1" in demo_run["printed"]  # the venv's `pixret demo`, run outside the clone
    folder = demo_run["folder"]
    # one process of the venv: the command's help, the metric on the demo's result files, where pixret comes from
    code = """
import contextlib, io, json
import pixret, pixret.metric
from pixret.cli import main
shown = io.StringIO()
with contextlib.redirect_stdout(shown):
    assert main(["--help"]) == 0
printed = io.StringIO()
with contextlib.redirect_stdout(printed):
    assert main(["evaluate", "--dataset", "out/dataset", "--predictions", "out/matcher/predictions.json",
                 "--ranks", "out/matcher/ranks.npy", "--format", "json"]) == 0
print(json.dumps({"help": shown.getvalue(), "scores": json.loads(printed.getvalue()),
                  "where": [pixret.__file__, pixret.metric.__file__]}))
"""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run([str(installed_wheel["python"]), "-c", code], cwd=folder.parent, capture_output=True,
                          text=True, timeout=600, env={**env, "PYTHONWARNINGS": "ignore", "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    said = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(f"    {command} " in said["help"] or f"    {command}\n" in said["help"]
               for command in ("build", "evaluate", "show", "export-coco", "push", "demo")), said["help"]
    figures = {k: v for k, v in said["scores"].items() if k not in ("unit", "warnings", "notes")}
    assert said["scores"]["unit"] == "fraction"
    assert figures == demo_run["scores"]["matcher (Harris + RANSAC)"]  # the installed metric, the demo's
    assert 0 < said["scores"]["medium"]["miou_seg"] <= 1
    venv = str(installed_wheel["venv"])
    assert all(where.startswith(venv) for where in said["where"]), said["where"]  # the wheel's, not the clone's


@pytest.mark.slow
def test_the_evaluate_your_method_block_runs_with_the_wheel(installed_wheel, demo_run):
    """The README's "Evaluate your method" blocks as written (the model stand-ins included), then its command: in the
    wheel's venv, outside the clone, on the demo that venv made (tests/test_readme.py runs them in the test venv)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("\n## Evaluate your method\n")[1].split("\n## ")[0]
    (block, command) = re.findall(r"^```(?:python|bash)\n(.*?)^```$", section, re.S | re.M)
    outside = demo_run["folder"].parent
    if not (outside / "demo_output").exists():
        (outside / "demo_output").symlink_to(demo_run["folder"])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env = {**env, "PYTHONWARNINGS": "ignore", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([str(installed_wheel["python"]), "-c", block], cwd=outside,
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    args = shlex.split(command.strip())
    assert args[0] == "pixret"
    done = subprocess.run([str(installed_wheel["venv"] / "bin" / "pixret"), *args[1:]], cwd=outside,
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0 and "figures in %" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
