"""Fixtures: small upstream releases in the exact layout, real builds of them, one metric instance.

Shared helpers live in the package (``pixret.synthetic``, ``pixret.testhook``), not here: fixtures (and where
the tests' `pixret` command is) are all this file has.
"""

from __future__ import annotations

import os
import sys
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
def custom_metric():
    """The evaluate module, config "custom" (the tiny datasets are not a benchmark), loaded once."""
    import pixret

    return pixret.load_metric("custom")
