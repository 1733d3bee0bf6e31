#!/usr/bin/env python
"""Publish a built dataset folder as a Hub dataset repo, or the metric folder as a Space.

    python tools/push.py dataset build/proxford --repo-id pixret/proxford [--dry-run]
    python tools/push.py metric metric/pixret_map --repo-id pixret/pixret_map [--dry-run]

Before anything is uploaded the folder is validated: the card's YAML (configs and
dataset_info for a dataset, the Space header for the metric), every config's data
files, and that the folder loads (``load_dataset`` on every config and split, or
``evaluate.load`` of the metric). ``--dry-run`` stops there and lists what would
be uploaded. Uploading needs a token (``huggingface-cli login`` or HF_TOKEN).
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from dataclasses import dataclass, field
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != TOOLS]  # tools/evaluate.py is not the package

import datasets  # noqa: E402
from huggingface_hub import DatasetCard, HfApi, RepoCard  # noqa: E402

SPACE_KEYS = ("title", "sdk", "app_file")


class ValidationError(ValueError):
    """The folder is not ready to publish."""


@dataclass
class Plan:
    kind: str  # "dataset" or "metric"
    folder: Path
    repo_id: str
    files: list[tuple[str, int]] = field(default_factory=list)  # (relative path, bytes)
    checks: list[str] = field(default_factory=list)  # what was validated

    @property
    def repo_type(self) -> str:
        return "dataset" if self.kind == "dataset" else "space"


def _files(folder: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(folder)), p.stat().st_size) for p in folder.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith("."))


def _start(kind: str, folder, repo_id: str, card_class) -> tuple[Plan, Path, object]:
    """The plan with the folder's files, the card's path and its YAML data."""
    folder = Path(folder)
    readme = folder / "README.md"
    if not readme.is_file():
        raise ValidationError(f"{readme}: no {kind} card")
    return Plan(kind, folder, repo_id, _files(folder)), readme, card_class.load(readme).data


def plan_dataset(folder, repo_id: str) -> Plan:
    plan, readme, data = _start("dataset", folder, repo_id, DatasetCard)
    folder = plan.folder
    for key in ("pretty_name", "license", "configs", "dataset_info"):
        if not data.get(key):
            raise ValidationError(f"{readme}: the card's YAML lacks '{key}' (build the folder with tools/build.py)")
    names = [path for path, _ in plan.files]
    for config in data.configs:
        for files in config["data_files"]:
            if not fnmatch.filter(names, files["path"]):
                raise ValidationError(f"{readme}: config {config['config_name']!r} split {files['split']!r}: "
                                      f"no file matches {files['path']!r}")
            split = datasets.load_dataset(str(folder), config["config_name"], split=files["split"])
            plan.checks.append(f"load_dataset({config['config_name']!r}, split={files['split']!r}): "
                               f"{split.num_rows} rows")
    return plan


def plan_metric(folder, repo_id: str) -> Plan:
    import evaluate

    plan, readme, data = _start("metric", folder, repo_id, RepoCard)
    folder = plan.folder
    missing = [key for key in SPACE_KEYS if not data.get(key)]
    if missing:
        raise ValidationError(f"{readme}: the Space header lacks {missing}")
    for required in (data.get("app_file"), "requirements.txt", f"{folder.name}.py"):
        if not (folder / required).is_file():
            raise ValidationError(f"{folder / required}: missing")
    module = evaluate.load(str(folder))
    plan.checks.append(f"evaluate.load({str(folder)!r}): {type(module).__name__}")
    return plan


def push(plan: Plan, private: bool = False, token: str | None = None) -> str:
    """Create the repo if needed and upload the folder; returns the commit URL."""
    api = HfApi(token=token)
    extra = {"space_sdk": "gradio"} if plan.repo_type == "space" else {}
    api.create_repo(plan.repo_id, repo_type=plan.repo_type, private=private, exist_ok=True, **extra)
    commit = api.upload_folder(folder_path=str(plan.folder), repo_id=plan.repo_id, repo_type=plan.repo_type,
                               ignore_patterns=["__pycache__/*", ".*"],
                               commit_message=f"Upload {plan.kind} from pixret tools/push.py")
    return str(commit)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["dataset", "metric"])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--repo-id", required=True, help="e.g. pixret/proxford or pixret/pixret_map")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--dry-run", action="store_true", help="validate and list, upload nothing")
    args = parser.parse_args(argv)
    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    try:
        plan = (plan_dataset if args.kind == "dataset" else plan_metric)(args.folder, args.repo_id)
    except (ValidationError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for check in plan.checks:
        print(f"ok: {check}")
    total = sum(size for _, size in plan.files)
    print(f"{'would upload' if args.dry_run else 'uploading'} {len(plan.files)} files ({total / 1e6:.1f} MB) "
          f"to {plan.repo_type} {plan.repo_id}:")
    for path, size in plan.files:
        print(f"  {path}  {size:,} bytes")
    if not args.dry_run:
        print(push(plan, args.private))
    return 0


if __name__ == "__main__":
    sys.exit(main())
