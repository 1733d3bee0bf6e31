"""pixret as PyPI takes it: an sdist (`python -m build --sdist`) and the wheel (``built_wheel``: the same setuptools
backend) pass `twine check --strict`, with the metadata PyPI shows (the README as the long description, URLs, valid
classifiers, keywords, an SPDX license); the sdist holds the clone's sources, docs and whole test suite, and never a
cache, a build output or a demo's output, even where the clone has them."""

from __future__ import annotations

import email.parser
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import pixret

ROOT = Path(__file__).resolve().parents[1]
SPACE = "https://huggingface.co/spaces/pixret/pixret_map"
# what a working clone holds besides its sources: none of it belongs in the sdist
LEFT_LYING = ["tests/__pycache__/conftest.cpython-311.pyc", "pixret/__pycache__/masks.cpython-311.pyc",
              "metric/pixret_map/__pycache__/app.cpython-311.pyc", "tests/.hypothesis/examples/0/1",
              ".hypothesis/examples/0/1", ".pytest_cache/v/cache/nodeids", "tests/.pytest_cache/README.md",
              "demo_output/results.json", "docs/demo_output/tables.md", "build/lib/pixret/__init__.py",
              "dist/pixret-0.1.0-py3-none-any.whl", "pixret/masks.pyc"]
NEVER = {"__pycache__", ".hypothesis", ".pytest_cache", "demo_output", "build", "dist", ".git", ".ci"}  # folders


def _not_copied(folder, names) -> list[str]:
    """What the sdist's copy of the clone leaves out: git, the outputs planted anew, any venv in the clone."""
    if Path(folder) != ROOT:
        return []
    return [n for n in names if n in {".git", "build", "dist", "demo_output"} or (ROOT / n / "pyvenv.cfg").is_file()]


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> Path:
    """The sdist built (`python -m build --sdist --no-isolation`) from a copy of the clone where caches, build outputs
    and a demo's output were left lying (``LEFT_LYING``)."""
    base = tmp_path_factory.mktemp("sdist")
    clone = base / "clone"
    shutil.copytree(ROOT, clone, ignore=_not_copied, symlinks=True)
    for name in LEFT_LYING:
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        (clone / name).write_text("left lying")
    done = subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(base / "dist"),
                           str(clone)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [path] = (base / "dist").glob("pixret-*.tar.gz")
    return path


def _sdist_files(sdist: Path) -> set[str]:
    """The sdist's files, relative to its top folder."""
    with tarfile.open(sdist) as tar:
        top = f"pixret-{pixret.__version__}/"
        assert all(m.name.startswith(top) or m.name == top.rstrip("/") for m in tar.getmembers())
        return {m.name[len(top):] for m in tar.getmembers() if m.isfile()}


def _clone_files(*patterns: str) -> set[str]:
    return {p.relative_to(ROOT).as_posix() for pattern in patterns for p in ROOT.glob(pattern)
            if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".pyc")}


def test_sdist_and_wheel_pass_twine_check(sdist, built_wheel):
    done = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(built_wheel)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASSED") == 2, done.stdout


def test_sdist_holds_the_sources_docs_and_tests_and_nothing_left_lying(sdist):
    files = _sdist_files(sdist)
    wanted = {"README.md", "pyproject.toml", "MANIFEST.in", "proxford_prparis.py", "PKG-INFO"} | _clone_files(
        "pixret/**/*.py", "pixret/templates/*", "pixret/metric/views/paper/*.csv", "metric/pixret_map/*", "tests/*.py",
        "docs/*.md", "benchmarks/*.py", "tools/*.py")
    assert {"tests/conftest.py", "tests/generators.py", "metric/pixret_map/app.py"} <= wanted  # (the globs found them)
    assert not wanted - files, sorted(wanted - files)
    assert not [name for name in files if NEVER & set(name.split("/")) or name.endswith(".pyc")]
    assert not files & set(LEFT_LYING)


def _metadata(text: str):
    return email.parser.Parser().parsestr(text)


def test_metadata_is_what_pypi_shows(sdist, built_wheel):
    from trove_classifiers import classifiers as known

    with tarfile.open(sdist) as tar:
        in_sdist = _metadata(tar.extractfile(f"pixret-{pixret.__version__}/PKG-INFO").read().decode())
    with zipfile.ZipFile(built_wheel) as wheel:
        in_wheel = _metadata(wheel.read(f"pixret-{pixret.__version__}.dist-info/METADATA").decode())
        assert wheel.read(f"pixret-{pixret.__version__}.dist-info/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for metadata in (in_sdist, in_wheel):
        assert metadata["Name"] == "pixret" and metadata["Version"] == pixret.__version__
        assert metadata["License-Expression"] == "MIT" and metadata["License"] is None
        assert metadata.get_all("License-File") == ["LICENSE"]  # the MIT text travels with the code
        assert metadata["Description-Content-Type"] == "text/markdown"
        assert metadata.get_payload().strip() == readme.strip()  # the README, as PyPI's long description
        assert f"Homepage, {SPACE}" in metadata.get_all("Project-URL")
        classifiers = metadata.get_all("Classifier")
        assert classifiers and not [c for c in classifiers if c not in known]  # PyPI refuses unknown ones
        assert not [c for c in classifiers if c.startswith("License ::")]  # (the SPDX expression says it)
        assert "pixel retrieval" in metadata["Keywords"].split(",")
