"""The wheel, installed for real (non-editable) into a fresh venv, used from a folder outside the clone.

The wheel and its venv are the ``installed_wheel`` fixture; the demo that venv's `pixret` command ran outside the
clone is ``demo_run`` (the demo tests read the same run): here, what the wheel ships, and its metric and help."""

from __future__ import annotations

import json
import os
import subprocess
import zipfile

import pytest

pytestmark = pytest.mark.xdist_group("demo")  # the worker that has the wheel and the demo run


@pytest.mark.slow
def test_wheel_installs_and_works_outside_the_clone(installed_wheel, demo_run):
    names = set(zipfile.ZipFile(installed_wheel["wheel"]).namelist())
    for shipped in ("pixret/metric/pixret_map.py", "pixret/metric/rle.py", "pixret/metric/README.md",
                    "pixret/metric/paper/table2_map.csv", "pixret/templates/dataset_card.md", "proxford_prparis.py"):
        assert shipped in names, shipped
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
    assert said["scores"] == demo_run["scores"]["matcher (Harris + RANSAC)"]  # the installed metric, the demo's
    assert 0 < said["scores"]["medium"]["miou_seg"] <= 1
    venv = str(installed_wheel["venv"])
    assert all(where.startswith(venv) for where in said["where"]), said["where"]  # the wheel's, not the clone's
