"""A Hub round trip against ../shared/tools/hubemu (the Hub's HTTP API on 127.0.0.1): `pixret push` a built
dataset and the metric Space, then, in fresh processes with an empty HF_HOME, load everything by hub id."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("kind", ["dataset", "space"])
def test_cards_pass_the_hub_card_checks(kind, tiny_dataset, shared_tool):
    """The stricter checks of the Hub's card documentation (hubemu's validate_yaml.advisory): none fires."""
    folder = tiny_dataset["out"] if kind == "dataset" else ROOT / "metric" / "pixret_map"
    files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert shared_tool("validate_yaml").advisory((folder / "README.md").read_text(), kind, files) == []


def test_the_dataset_card_links_the_papers(tiny_dataset):
    """The benchmark's paper and its authors' follow-up, by arXiv id (checked: 2309.05438 is An et al., ICCV 2023;
    2406.11242 is An, Huo and Yoon's hypergraph diffusion, evaluated on (P)ROxford and (P)RParis)."""
    from pixret.publish import card_links

    links = card_links((tiny_dataset["out"] / "README.md").read_text())
    assert links.count("https://arxiv.org/abs/2309.05438") == 2 and links.count("https://arxiv.org/abs/2406.11242") == 1
    text = " ".join((tiny_dataset["out"] / "README.md").read_text().split())
    assert ("(An et al., [*Towards Content-based Pixel Retrieval in Revisited Oxford and Paris*]"
            "(https://arxiv.org/abs/2309.05438), ICCV 2023)") in text
    assert ("[*Accurate and Fast Pixel Retrieval with Spatial and Uncertainty Aware Hypergraph Diffusion*]"
            "(https://arxiv.org/abs/2406.11242) (An, Huo and Yoon, 2024)") in text


def _run(hub, hf_home, args, timeout=300) -> str:
    result = subprocess.run(args, env=hub.env(hf_home), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def _client(hub, hf_home, code) -> str:
    return _run(hub, hf_home, [sys.executable, "-c", textwrap.dedent(code)])


def test_push_then_load_by_hub_id(hub, tiny_dataset, built_wheel, tmp_path):
    folder = tmp_path / "ds"  # the build, with a stray token file beside its files: it stays home
    shutil.copytree(tiny_dataset["out"], folder)
    (folder / "hf_token.txt").write_text("hf_not_for_the_hub")
    out = _client(hub, tmp_path / "hf-push", f"""
        from pixret.cli import main
        assert main(["push", "dataset", {str(folder)!r}, "--repo-id", "pixret/proxford-demo"]) == 0
        assert main(["push", "metric", {str(ROOT / "metric" / "pixret_map")!r}, "--repo-id", "pixret/pixret_map",
                     "--wheel", {str(built_wheel)!r}]) == 0
        import huggingface_hub
        print("FILES", sorted(huggingface_hub.list_repo_files("pixret/proxford-demo", repo_type="dataset")))
    """)
    assert "uploading" in out and "as hubemu" in out
    written = json.loads((folder / ".pixret-output.json").read_text())["files"]
    assert f"FILES {sorted(written + ['.gitattributes'])}" in out  # no marker, no token
    out = _client(hub, tmp_path / "hf-fresh", """
        import re, requests, datasets, evaluate, huggingface_hub
        repo = "pixret/proxford-demo"
        pairs = datasets.load_dataset(repo, "pairs")
        assert {s: d.num_rows for s, d in pairs.items()} == {"easy": 24, "medium": 24, "hard": 24}, pairs
        for config, image in (("queries", "image"), ("index", "image"), ("preview", "index_image")):
            table = datasets.load_dataset(repo, config, split="test")
            streamed = list(datasets.load_dataset(repo, config, split="test", streaming=True))
            assert len(streamed) == table.num_rows > 0 and streamed[0][image].size == (64, 48)
        assert next(iter(datasets.load_dataset(repo, "pairs", split="hard", streaming=True)))["query_id"] == 0
        metric = evaluate.load("pixret/pixret_map", "custom")
        medium = pairs["medium"]
        result = metric.compute(predictions=[{"mask": r["mask"]} for r in medium], references=medium,
                                ranks=[list(range(12))] * 4, index_size=12)
        print("RESULT", result["miou_seg"], 0 < result["map_seg"] <= 1)
        # every relative link and image of the pushed card resolves in the pushed repo
        card = huggingface_hub.hf_hub_download(repo, "README.md", repo_type="dataset")
        links = re.findall(r"\\]\\(([^)\\s]+)\\)", open(card).read().split("```")[0] + open(card).read())
        relative = sorted({l for l in links if not re.match(r"(https?:|#)", l)})
        endpoint = huggingface_hub.constants.ENDPOINT
        for link in relative:
            answer = requests.head(f"{endpoint}/datasets/{repo}/resolve/main/{link}", allow_redirects=True)
            assert answer.status_code == 200, (link, answer.status_code)
        print("LINKS", relative)
    """)
    assert "RESULT 1.0 True" in out
    # a Hub user without pixret: evaluate's own message, naming the package to install (the site-packages here as
    # plain paths, so the editable pixret of this environment is not found; not run from the clone either)
    code = textwrap.dedent("""
        import sys, sysconfig
        sys.path += [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
        import evaluate
        try:
            import pixret
            print("PIXRET FOUND")
        except ImportError:
            pass
        try:
            evaluate.load("pixret/pixret_map", "custom")
        except ImportError as err:
            print("MISSING", " ".join(str(err).split()))
    """)
    done = subprocess.run([sys.executable, "-S", "-c", code], env=hub.env(tmp_path / "hf-bare"), cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert "PIXRET FOUND" not in done.stdout, done.stdout + done.stderr
    assert "MISSING To be able to use pixret/pixret_map, you need to install the following dependencies" in done.stdout \
        and "'pixret'" in done.stdout and "pip install pixret" in done.stdout, done.stdout + done.stderr
    assert "LINKS ['LICENSE', 'build_report.json', 'preview.jpg']" in out
    # why every README example names the config: offline, with several configs cached, datasets refuses
    out = _client(hub, tmp_path / "hf-fresh", """
        import os
        os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
        import datasets
        print("NAMED", datasets.load_dataset("pixret/proxford-demo", "pairs", split="medium").num_rows)
        try:
            datasets.load_dataset("pixret/proxford-demo")
        except ValueError as err:
            print("BARE", str(err).splitlines()[0])
    """)
    assert "NAMED 24" in out and "BARE There are multiple 'pixret/proxford-demo' configurations" in out
