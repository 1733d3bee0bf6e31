"""Every code block of README.md runs as written; so does the metric card's How to Use.

The rules this file applies to README.md:
- a block's language says what it is: ``python`` and ``bash`` blocks run; ``bibtex`` (also ``json``, ``text``,
  ``diff``) is data; any other language, or none, fails here: say what a block is;
- ``<!-- not run: why -->`` on the line before a block leaves it out. That list is kept tiny, and checked here:
  the Quickstart only (CI runs its test command in a fresh venv on a clean clone, tests/test_demo.py the demo);
- a block runs alone, as a user pastes it (a python block in its own interpreter, UserWarning made an error; a
  bash block with ``bash -e``, and nothing on its stderr says ``warning``), in README order within its section,
  in a folder holding what the section's text says the user has there (the demo's output, the downloads, their
  build, their result files, their model repo on the Hub): ``SECTIONS`` names the test of each section, and a
  section with a block to run and no test there fails here;
- the Hub is ../shared/tools/hubemu, with what the text says is published there; every other block runs offline.

The downloads are small but real in structure: revisitop's real ``gnd_roxford5k.pkl`` (from ../shared: a PROxford
build is then the benchmark, which the leaderboard files need), one label file per query group and positive image
as the authors ship them, and 32x24 JPEGs (query images just big enough for their crop) in the archive
``oxbuild_images-v1.tgz``; PRParis is a tiny world under its download names (``synthetic.tiny_gnd``).

The card (metric/pixret_map/README.md) reads as one session on the Hub: its python blocks run in one interpreter,
in order, its ``>>>`` examples checked by doctest, against the emulator holding the datasets and the Space.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from datasets import load_dataset

import pixret
from pixret import synthetic

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CARD = ROOT / "metric" / "pixret_map" / "README.md"
SHARED = ROOT.parent / "shared"
RUN, DATA = ("python", "bash"), ("bibtex", "json", "text", "diff")
NOT_RUN = ["Quickstart"]  # the sections whose blocks are marked not run (see the module's docstring)
SECTIONS = {  # each section with blocks to run -> the test that runs them in the folder the section's text describes
    "Evaluate your method": "test_evaluate_your_method",  # demo_output/ (the Quickstart made it)
    "Load": "test_load",  # build/ (the Build section made it)
    "Leaderboard / publish": "test_leaderboard",  # build/, the user's result files; the Hub: the dataset, their model
    "Build": "test_build",  # the downloads
}

# the tests of the module's fixtures (the downloads, the build, the Hub) on one worker, which makes them once; not a
# module mark: xdist joins a test's groups, and test_evaluate_your_method belongs to "demo" alone
IN_README_GROUP = pytest.mark.xdist_group("readme")


@dataclass
class Block:
    section: str  # the "## " heading it is under
    language: str
    code: str
    line: int  # of its opening fence, 1-based
    not_run: str | None  # the reason given in "<!-- not run: ... -->", if any

    def __str__(self) -> str:
        return f"README.md:{self.line} ({self.section}, {self.language})"


def blocks_of(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, with their section and the not-run mark before them."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found, section, n = [], "", 0
    while n < len(lines):
        line = lines[n]
        if line.startswith("## "):
            section = line[3:].strip()
        if line.startswith("```"):
            end = next(k for k in range(n + 1, len(lines)) if lines[k] == "```")
            mark = re.fullmatch(r"<!-- not run: (.+) -->", lines[n - 1].strip()) if n else None
            found.append(Block(section, line[3:].strip(), "\n".join(lines[n + 1:end]) + "\n", n + 1,
                               mark and mark.group(1)))
            n = end
        n += 1
    return found


def to_run(section: str) -> list[Block]:
    blocks = [b for b in blocks_of(README) if b.section == section and b.language in RUN and not b.not_run]
    assert blocks, f"README.md has no block to run under '## {section}'"
    return blocks


def offline_env(hf_home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME") and not k.startswith("HF_")}
    return {**env, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
            "HF_EVALUATE_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}


def run_block(block: Block, folder: Path, env: dict) -> subprocess.CompletedProcess:
    """One block as a user runs it, in ``folder``; it must succeed and warn about nothing."""
    if block.language == "python":
        args = [sys.executable, "-W", "error::UserWarning", "-c", block.code]
    else:
        args = ["bash", "-e", "-o", "pipefail", "-c", block.code]
    done = subprocess.run(args, cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    said = f"{block} failed:\n{block.code}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    assert done.returncode == 0, said
    assert "warning" not in done.stderr.lower(), said
    return done


def run_section(section: str, folder: Path, env: dict) -> list[subprocess.CompletedProcess]:
    return [run_block(block, folder, env) for block in to_run(section)]


# ---------------------------------------------------------------- the README's own rules
def test_every_block_says_what_it_is_and_only_the_quickstart_is_not_run():
    blocks = blocks_of(README)
    unknown = [str(b) for b in blocks if b.language not in RUN + DATA]
    assert not unknown, f"blocks of no known language (python, bash run; {', '.join(DATA)} are data): {unknown}"
    assert sorted({b.section for b in blocks if b.not_run}) == NOT_RUN
    runnable = {b.section for b in blocks if b.language in RUN and not b.not_run}
    assert runnable <= set(SECTIONS), f"sections with blocks to run and no setup in SECTIONS: {runnable - set(SECTIONS)}"
    assert len(README.read_text().splitlines()) <= 200  # a user's guide; reference material is in docs/


def test_every_local_link_of_the_readme_and_the_docs_resolves():
    """Relative links (files, and #anchors of their headings) point at something that exists; the README links
    every page of docs/."""
    linked = set(re.findall(r"\]\((docs/[^)#\s]+)", README.read_text(encoding="utf-8")))
    pages = {f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md")}
    assert pages <= linked, f"pages of docs/ the README does not link: {sorted(pages - linked)}"
    for page in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            where = (page.parent / path).resolve() if path else page
            assert where.exists(), f"{page.relative_to(ROOT)}: link to {target}: no such file"
            if anchor and where.suffix == ".md":
                headings = {re.sub(r"[^a-z0-9 _-]", "", h.lower()).replace(" ", "-")
                            for h in re.findall(r"^#+ (.+)$", where.read_text(encoding="utf-8"), re.M)}
                assert anchor in headings, f"{page.relative_to(ROOT)}: link to {target}: no such heading"


# ---------------------------------------------------------------- what the user has: downloads, a build, the Hub
def query_groups(gnd: dict) -> list[int]:
    """Queries with the same easy / hard / junk lists share label files upstream."""
    keys: dict = {}
    return [keys.setdefault(tuple(tuple(e[k]) for k in ("easy", "hard", "junk")), len(keys)) for e in gnd["gnd"]]


def write_downloads(folder: Path, benchmark: str, gnd: dict, gnd_name: str, archives: list[str], seed: int = 0):
    """One benchmark's downloads in ``folder``: the label release extracted as ``pixel_retrieval_benchmarks/`` (its
    pair2labelpath and one LabelMe file per query group and positive), the image archives, revisitop's gnd."""
    rng = np.random.default_rng(seed)
    height, width = 24, 32
    release, groups, labels = folder / "pixel_retrieval_benchmarks", query_groups(gnd), {}
    for q, entry in enumerate(gnd["gnd"]):
        for i in list(entry["easy"]) + list(entry["hard"]):
            labels[q, i] = f"labels/{benchmark}/group{groups[q]:02d}/{gnd['imlist'][i]}.json"
    for rel in sorted(set(labels.values())):
        x, y = rng.uniform(1, width / 2), rng.uniform(1, height / 2)
        w, h = rng.uniform(4, width / 2 - 1), rng.uniform(4, height / 2 - 1)
        box = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
        synthetic.write_label(release, rel, [box], height, width)
    synthetic.write_pair2label(release, benchmark, labels)
    pictures = [synthetic.jpeg_bytes(rng.integers(0, 255, (height, width, 3))) for _ in range(8)]
    images = {name: pictures[n % len(pictures)] for n, name in enumerate(gnd["imlist"])}
    for entry, name in zip(gnd["gnd"], gnd["qimlist"]):  # a query image holds its crop (revisitop's bbx)
        images[name] = synthetic.jpeg_bytes(np.full((int(entry["bbx"][3]) + 2, int(entry["bbx"][2]) + 2, 3), 128))
    names = list(images)
    for k, archive in enumerate(archives):
        synthetic.write_archive(folder / archive, {name: images[name] for name in names[k::len(archives)]})
    (folder / gnd_name).write_bytes(pickle.dumps(gnd, protocol=3))


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    """The README's Build section's downloads, in one folder."""
    gnd_path = SHARED / "data" / "revisitop" / "gnd_roxford5k.pkl"
    if not gnd_path.is_file():
        pytest.skip(f"needs revisitop's real ground truth at {gnd_path} (../shared; present in CI)")
    folder = tmp_path_factory.mktemp("downloads")
    write_downloads(folder, "proxford", pickle.loads(gnd_path.read_bytes()), "gnd_roxford5k.pkl",
                    ["oxbuild_images-v1.tgz"])
    write_downloads(folder, "prparis", synthetic.tiny_gnd(), "gnd_rparis6k.pkl", ["paris_1-v1.tgz", "paris_2-v1.tgz"],
                    seed=1)
    return folder


@pytest.fixture(scope="module")
def built(downloads, tmp_path_factory):
    """The README's Build section run in the downloads' folder: its ``build/`` is what the other sections read."""
    run_section("Build", downloads, offline_env(tmp_path_factory.mktemp("hf")))
    return {"folder": downloads, "build": downloads / "build"}


def in_folder(tmp_path: Path, **links) -> Path:
    """A user's folder holding ``links`` (name -> path) as symlinks."""
    folder = tmp_path / "user"
    folder.mkdir()
    for name, target in links.items():
        (folder / name).symlink_to(target)
    return folder


@pytest.fixture(scope="module")
def published(built, tmp_path_factory):
    """The Hub as the README's Leaderboard section and the card expect it: the emulator holding build/proxford as
    pixret/proxford (with its eval.yaml), the metric folder as the Space pixret/pixret_map, the model my-name/my-model."""
    folder = SHARED / "tools" / "hubemu"
    if not (folder / "hubemu.py").is_file():
        pytest.skip(f"needs the Hub emulator at {folder} (../shared; present in CI)")
    sys.path.insert(0, str(folder))
    try:
        import hubemu
    finally:
        sys.path.remove(str(folder))
    base = tmp_path_factory.mktemp("hub")
    with hubemu.running(base / "data") as running:
        code = textwrap.dedent(f"""
            from huggingface_hub import HfApi
            from pixret.cli import main
            assert main(["push", "dataset", {str(built["build"] / "proxford")!r}, "--repo-id", "pixret/proxford"]) == 0
            api = HfApi()
            api.create_repo("pixret/pixret_map", repo_type="space", space_sdk="gradio")
            api.upload_folder(folder_path={str(CARD.parent)!r}, repo_id="pixret/pixret_map", repo_type="space",
                              allow_patterns=["*.py", "README.md", "requirements.txt"])
            api.create_repo("my-name/my-model")
        """)
        done = subprocess.run([sys.executable, "-c", code], env=running.env(base / "hf-setup"), capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        yield running
        assert not running.unhandled(), running.unhandled()


# ---------------------------------------------------------------- the sections
@pytest.mark.xdist_group("demo")  # the worker that makes demo_run (conftest)
def test_evaluate_your_method(demo_run, tmp_path):
    """From the stand-ins' outputs to `pixret evaluate`, on the demo's world (the Quickstart made demo_output/)."""
    folder = in_folder(tmp_path, demo_output=demo_run["folder"])
    _, command = run_section("Evaluate your method", folder, offline_env(tmp_path / "hf"))
    predictions = json.loads((folder / "preds.json").read_text())
    assert len(predictions) == len(pixret.pairs_to_predict(str(demo_run["folder"] / "dataset")))
    world = demo_run["world"]
    assert np.load(folder / "ranks.npy").shape == (world["queries"], min(100, world["index_images"]))
    assert command.stdout.split()[:3] == ["protocol", "mIoU", "D"] and "figures in %" in command.stdout


@IN_README_GROUP
def test_build(built):
    """The two commands build PROxford (the benchmark: revisitop's real lists) and PRParis (here a tiny world)."""
    report = json.loads((built["build"] / "proxford" / "build_report.json").read_text())
    assert report["benchmark"] == "proxford" and (built["build"] / "proxford" / "eval.yaml").is_file()
    assert (built["build"] / "prparis" / "README.md").is_file()


@IN_README_GROUP
def test_load(built, tmp_path):
    """The three configs of the user's build, offline."""
    folder = in_folder(tmp_path, build=built["build"])
    (done,) = run_section("Load", folder, offline_env(tmp_path / "hf"))
    assert "'mask'" in done.stdout and "'shapes'" in done.stdout


@IN_README_GROUP
def test_leaderboard(built, published, tmp_path):
    """With the user's result files for PROxford (written here with pixret's writer: the ground truth's masks, random
    ranks) and their model repo: the leaderboard files written, checked, pushed, and on the Hub after."""
    dataset = str(built["build"] / "proxford")
    folder = in_folder(tmp_path, build=built["build"])
    medium = load_dataset(dataset, "pairs", split="medium", columns=["query_id", "index_id", "mask"])
    pixret.write_predictions(folder / "preds.json", {(r["query_id"], r["index_id"]): r["mask"]
                                                     for r in medium if r["mask"] is not None}, dataset=dataset)
    np.save(folder / "ranks.npy", pixret.ranks_from_scores(np.random.default_rng(0).random((70, 4993)), top_k=100))
    (done,) = run_section("Leaderboard / publish", folder, published.env(tmp_path / "hf"))
    written = sorted(p.name for p in (folder / "my-model" / ".eval_results").iterdir())
    assert len(written) == 6 and all(name.startswith("pixret--proxford--") for name in written), written
    assert "would upload 6 files" in done.stdout and "uploading 6 files" in done.stdout, done.stdout
    code = "from huggingface_hub import list_repo_files; print(sorted(list_repo_files('my-name/my-model')))"
    done = subprocess.run([sys.executable, "-c", code], env=published.env(tmp_path / "hf-read"), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and all(f".eval_results/{name}" in done.stdout for name in written), done.stderr


# ---------------------------------------------------------------- the metric card
CARD_SESSION = """
import doctest, json, sys
blocks = json.loads(sys.stdin.read())
namespace = {"__name__": "__main__"}
for name, language, code in blocks:
    if code.lstrip().startswith(">>>"):
        test = doctest.DocTestParser().get_doctest(code, namespace, name, name, 0)
        runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
        runner.run(test)
        assert not runner.failures, name
    else:
        exec(compile(code, name, "exec"), namespace)
"""


@IN_README_GROUP
def test_the_metric_card_runs(built, published, tmp_path):
    """The card's python blocks in one session, against the Hub: the dataset and the Space by their ids, and the
    user's ranks.npy and preds.json (here: random ranks, the ground truth's masks)."""
    cards = blocks_of(CARD)
    assert not [str(b) for b in cards if b.language not in ("python", "bibtex")]
    blocks = [b for b in cards if b.language == "python"]
    dataset = str(built["build"] / "proxford")
    folder = tmp_path / "user"
    folder.mkdir()
    np.save(folder / "ranks.npy", pixret.ranks_from_scores(np.random.default_rng(0).random((70, 4993)), top_k=100))
    medium = load_dataset(dataset, "pairs", split="medium", columns=["query_id", "index_id", "mask"])
    pixret.write_predictions(folder / "preds.json", {(r["query_id"], r["index_id"]): r["mask"]
                                                     for r in medium if r["mask"] is not None}, dataset=dataset)
    session = json.dumps([[f"metric card:{b.line}", b.language, b.code] for b in blocks])
    done = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", CARD_SESSION], input=session, cwd=folder,
                          env=published.env(tmp_path / "hf"), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert len(blocks) >= 3 and any(b.code.lstrip().startswith(">>>") for b in blocks)
