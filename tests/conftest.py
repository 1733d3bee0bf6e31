"""Fixtures: small upstream releases in the exact layout, real builds of them, one metric instance.

The release writers are ``pixret.synthetic`` (shipped: the demo uses them); helpers only the tests use are modules
beside this file, loaded by a fixture each (``--import-mode=importlib``: test files cannot import each other):
``generators`` (tests/generators.py), ``holding`` (tests/holding.py), ``literal_authors`` (tests/literal_authors.py).
Fixtures (and where the tests' `pixret` command is) are all this file has.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from pixret import synthetic

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
BIN = Path(sys.executable).parent  # the `pixret` the tests run is the one installed beside this interpreter


def pytest_configure(config):
    """"pixret" in a test's subprocess is the command beside this interpreter, with or without an activated venv
    (`venv/bin/python -m pytest`), never another one found further on PATH."""
    if not (BIN / "pixret").is_file():
        pytest.exit(f"no `pixret` command in {BIN}: install the package here (pip install -e '.[test]')", returncode=4)
    os.environ["PATH"] = os.pathsep.join([str(BIN), os.environ.get("PATH", "")])


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Under `--dist loadgroup`, xdist keeps an xdist_group's tests on one worker by a suffix it adds to their ids
    (on each worker, before this hook): if the suffix is missing (pytest-xdist#1386, with pytest 9.2), each worker
    would build the group's costly fixtures (the wheel and the demo, the Space), unseen. Stop then."""
    if not getattr(config.option, "loadgroup", False):
        return
    lost = [item.nodeid for item in items if item.get_closest_marker("xdist_group") and "@" not in item.nodeid]
    if lost:
        pytest.exit(f"pytest-xdist did not group {lost[0]} (and {len(lost) - 1} more) by its xdist_group mark: "
                    "install the test extra's versions (pip install -e '.[test]')", returncode=4)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """The wheel, its venv and the demo are made once, on the worker of the xdist group "demo": a test that uses them
    in another group (xdist joins a test's groups: "demo" and a module's "readme" make "demo_readme") would make them
    again on its own worker. Such a test fails here, before its fixtures are made."""
    if (os.environ.get("PYTEST_XDIST_WORKER") and getattr(item.config.option, "loadgroup", False)
            and "installed_wheel" in item.fixturenames and not item.nodeid.endswith("@demo")):
        pytest.fail(f"{item.nodeid} uses the wheel or the demo (conftest) outside the xdist group 'demo' alone: mark "
                    "it @pytest.mark.xdist_group(\"demo\") and with no other group", pytrace=False)


@pytest.fixture
def shared_dir():
    """../shared beside the clone (real revisitop files, the paper's tables, the Hub emulator); CI has it."""
    if not SHARED.is_dir():
        pytest.skip(f"needs {SHARED} (real revisitop ground truth, the Hub emulator); present in CI")
    return SHARED


def _shared_tool(name: str):
    """A test tool of ../shared/tools/hubemu (the one kind of module imported by path); skips where it is absent."""
    folder = SHARED / "tools" / "hubemu"
    if not (folder / f"{name}.py").is_file():
        pytest.skip(f"needs the Hub emulator at {folder} (../shared; present in CI)")
    sys.path.insert(0, str(folder))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(folder))


@pytest.fixture
def shared_tool():
    """``shared_tool(name)`` imports a test tool of ../shared/tools/hubemu (hubemu, validate_yaml, ...)."""
    return _shared_tool


@pytest.fixture
def hub(tmp_path):
    """The Hub emulator on 127.0.0.1 (clients: new processes with ``hub.env(hf_home)``); no request left unrouted."""
    with _shared_tool("hubemu").running(tmp_path / "hub") as running:
        yield running
        assert not running.unhandled(), running.unhandled()


@pytest.fixture
def release(tmp_path):
    """A fresh tiny release (4 queries, 12 index images) to modify."""
    root = tmp_path / "release"
    return {**synthetic.write_tiny_release(root), "root": root}


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """A real built dataset folder of the tiny release (built once per session; do not modify)."""
    from pixret.build import build

    base = tmp_path_factory.mktemp("tiny")
    info = synthetic.write_tiny_release(base / "release")
    report = build("proxford", base / "release", base / "out")
    return {**info, "root": base / "release", "out": base / "out", "report": report}


@pytest.fixture(scope="session")
def splits(tiny_dataset):
    """The pairs splits of ``tiny_dataset`` by protocol ("easy", "medium", "hard"), loaded with ``datasets``."""
    from datasets import load_dataset

    return {p: load_dataset(str(tiny_dataset["out"]), "pairs", split=p) for p in ("easy", "medium", "hard")}


@pytest.fixture(scope="session")
def medium(splits):
    """The medium split of ``tiny_dataset``'s pairs."""
    return splits["medium"]


@pytest.fixture(scope="session")
def custom_metric():
    """The evaluate module, config "custom" (the tiny datasets are not a benchmark), loaded once."""
    import pixret

    return pixret.load_metric("custom")


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return {**env, "PYTHONWARNINGS": "ignore", "HF_HUB_OFFLINE": "1", **extra}


def _run(args, cwd) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600, env=_clean_env())
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory):
    """pixret built as a wheel from a copy of the clone, once per worker (``pixret.publish.build_wheel``: the wheel
    ``pixret push metric`` uploads with the Space)."""
    from pixret.publish import build_wheel

    return build_wheel(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def installed_wheel(built_wheel, tmp_path_factory):
    """``built_wheel`` installed (not editable, no dependency fetched) into a fresh venv that sees this interpreter's
    packages as plain path entries (the dependencies; the .pth files there, such as pixret's editable install, are
    not run): {"wheel", "python", "pixret", "venv"}. Built once per worker (tests that use it are in the xdist group
    "demo")."""
    base = tmp_path_factory.mktemp("wheel")
    wheel = built_wheel
    venv.create(base / "venv", with_pip=False)  # (system_site_packages would see the base interpreter's, not ours)
    python = base / "venv" / "bin" / "python"
    site_packages = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=base)
    ours = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    Path(site_packages.strip(), "outer-site-packages.pth").write_text("".join(f"{p}\n" for p in ours))
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
          "--no-compile", str(wheel)], cwd=base)
    return {"wheel": wheel, "python": python, "pixret": base / "venv" / "bin" / "pixret", "venv": base / "venv"}


@pytest.fixture(scope="session")
def demo_run(installed_wheel, tmp_path_factory):
    """`pixret demo --small`, run once per worker by the installed wheel's command from a folder outside the clone
    (the tests assert what holds for any world and seed; session scope: xdist may run other modules between the
    "demo" group's tests, which would rebuild a module fixture)."""
    outside = tmp_path_factory.mktemp("demo")
    printed = _run([str(installed_wheel["pixret"]), "demo", "--small", "--output", "out"], cwd=outside)
    folder = outside / "out"
    summary = json.loads((folder / "results.json").read_text())
    return {**summary, "tables": (folder / "tables.md").read_text(), "printed": printed, "folder": folder}


def _tests_module(name: str):
    """The helper module tests/<name>.py, loaded by path (the test files' one way to share code)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def literal_authors():
    """tests/literal_authors.py: slow, literal re-implementations of the authors' evaluation code."""
    return _tests_module("literal_authors")


@pytest.fixture(scope="session")
def generators():
    """tests/generators.py: test-only generators (a release of shapes to keep as released, a tiny registry entry,
    benchmark-shaped rows in memory, a .mat ground truth)."""
    return _tests_module("generators")


@pytest.fixture(scope="session")
def holding():
    """tests/holding.py: ``holding.Held`` runs a command held at the points of ``pixret.testhook``."""
    return _tests_module("holding")
