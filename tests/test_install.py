"""The wheel, installed for real (non-editable) into a fresh venv, used from a folder outside the clone."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(args, cwd, **kw):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600,
                            env={**env, "PYTHONWARNINGS": "ignore", **kw})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
def test_wheel_installs_and_works_outside_the_clone(tmp_path):
    source = tmp_path / "source"  # a copy: building must not write into the clone
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "tests", "build", "dist", "*.egg-info",
                                                                 "__pycache__", "demo_output", "benchmarks", "docs"))
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"),
          str(source)], cwd=tmp_path)
    wheel = next((tmp_path / "dist").glob("pixret-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in ("pixret/metric/pixret_map.py", "pixret/metric/rle.py", "pixret/metric/README.md",
                    "pixret/metric/paper/table2_map.csv", "pixret/templates/dataset_card.md", "proxford_prparis.py"):
        assert shipped in names, shipped
    # a venv that sees the dependencies installed where the tests run (this interpreter's site-packages, added
    # as plain path entries: the .pth files there, such as pixret's editable install, are not run), with pixret
    # itself only from the wheel. (system_site_packages would see the base interpreter's, not a venv's.)
    venv.create(tmp_path / "venv", with_pip=False)
    python = tmp_path / "venv" / "bin" / "python"
    site_packages = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path)
    ours = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    Path(site_packages.strip(), "outer-site-packages.pth").write_text("".join(f"{p}\n" for p in ours))
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)], cwd=tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    pixret = str(tmp_path / "venv" / "bin" / "pixret")
    shown = _run([pixret, "--help"], cwd=outside)
    assert all(f"    {command} " in shown or f"    {command}\n" in shown
               for command in ("build", "evaluate", "show", "export-coco", "push", "demo")), shown
    _run([pixret, "demo", "--small", "--output", "demo"], cwd=outside)
    printed = _run([pixret, "evaluate", "--dataset", "demo/dataset", "--predictions", "demo/matcher/predictions.json",
                    "--ranks", "demo/matcher/ranks.npy", "--format", "json"], cwd=outside)
    assert 0 < json.loads(printed)["medium"]["miou_seg"] <= 1
    where = _run([str(python), "-c", "import pixret, pixret.metric; print(pixret.__file__, pixret.metric.__file__)"],
                 cwd=outside)
    assert where.count(str(tmp_path / "venv")) == 2, where  # the wheel's files (the demo's metric too), not the clone's
    # docs/evaluate-your-method.md (the README's block) as written, with its stand-ins, then its command
    blocks = re.findall(r"^```(\w+)\n(.*?)^```$", (ROOT / "docs" / "evaluate-your-method.md").read_text(), re.S | re.M)
    (block, command, stand_ins) = (code for _, code in blocks[:3])
    (outside / "demo_output").symlink_to(outside / "demo")
    _run([str(python), "-c", stand_ins + "\n" + block], cwd=outside)
    args = shlex.split(command.strip())
    assert args[0] == "pixret"
    assert "figures in %" in _run([str(tmp_path / "venv" / "bin" / args[0]), *args[1:]], cwd=outside)
