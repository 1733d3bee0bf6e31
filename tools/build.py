#!/usr/bin/env python
"""Build a hub-ready PROxford / PRParis dataset folder from the upstream release.

    python tools/build.py --benchmark proxford --data-dir RELEASE --output OUT

OUT gets ``<config>/<split>-00000-of-0000N.parquet`` (image bytes embedded), a
README.md dataset card whose YAML ``configs:`` make the folder loadable with
``load_dataset(OUT)`` and no code, and ``build_report.json`` (positives without
a label, clipped polygons, ...). The folder is written next to OUT under a
temporary name and renamed at the end, so a failed build leaves nothing behind.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import datasets
from datasets.info import DatasetInfosDict
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from proxford_prparis import FEATURES, ProxfordPrparis  # noqa: E402
from pixret.release import ReleaseError  # noqa: E402

PRETTY_NAMES = {"proxford": "PROxford", "prparis": "PRParis"}
CARD_TEMPLATE = ROOT / "README.md"


def build(benchmark: str, data_dir, output, images_dir=None, num_proc: int | None = None,
          overwrite: bool = False, ignore_extra_labels: bool = False, max_shard_size: str = "500MB") -> dict:
    """Write the dataset folder; return the build report."""
    output = Path(output)
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} exists; pass --overwrite to replace it")
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        infos, report = {}, None
        for config in FEATURES:
            builder = ProxfordPrparis(
                config_name=config, data_dir=str(data_dir), benchmark=benchmark,
                images_dir=None if images_dir is None else str(images_dir),
                ignore_extra_labels=ignore_extra_labels, cache_dir=str(tmp / ".cache"),
            )
            prepared = tmp / ".cache" / f"{config}-parquet"
            builder.download_and_prepare(output_dir=str(prepared), file_format="parquet",
                                         max_shard_size=max_shard_size, num_proc=num_proc)
            report = builder.report or report
            infos[config] = builder.info
            _move_shards(prepared, tmp / config, builder.name)
        shutil.rmtree(tmp / ".cache")
        (tmp / "build_report.json").write_text(json.dumps(report, indent=1) + "\n")
        write_card(tmp / "README.md", benchmark, infos)
        # swap in the new folder; the old one is removed only once the new one is in place
        old = output.with_name(f"{tmp.name}.old") if output.exists() else None
        if old:
            output.rename(old)
        try:
            tmp.rename(output)
        except BaseException:
            if old:
                old.rename(output)
            raise
        if old:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def _move_shards(prepared: Path, target: Path, builder_name: str) -> None:
    """datasets writes <builder>-<split>[-SSSSS-of-NNNNN].parquet; the Hub convention is <split>-SSSSS-of-NNNNN."""
    target.mkdir(parents=True)
    for path in sorted(prepared.glob(f"{builder_name}-*.parquet")):
        rest = path.stem[len(builder_name) + 1:]
        split, _, shard = rest.partition("-")
        path.rename(target / f"{split}-{shard or '00000-of-00001'}.parquet")


def write_card(path: Path, benchmark: str, infos: dict) -> None:
    """The project README (card body and shared YAML) with this benchmark's configs and dataset_info."""
    card = DatasetCard(CARD_TEMPLATE.read_text(encoding="utf-8"))
    card.data.pretty_name = PRETTY_NAMES[benchmark]
    card.data.pop("configs", None)
    card.data.pop("dataset_info", None)
    MetadataConfigs({
        config: {
            **({"default": True} if config == "pairs" else {}),
            "data_files": [{"split": split, "path": f"{config}/{split}-*.parquet"} for split in info.splits],
        }
        for config, info in infos.items()
    }).to_dataset_card_data(card.data)
    DatasetInfosDict(infos).to_dataset_card_data(card.data)
    card.save(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", required=True, choices=sorted(PRETTY_NAMES))
    parser.add_argument("--data-dir", required=True, type=Path, help="the upstream release folder")
    parser.add_argument("--output", required=True, type=Path, help="dataset folder to write")
    parser.add_argument("--images-dir", type=Path, help="folder of <name>.jpg (default: jpg/ beside the gnd file)")
    parser.add_argument("--num-proc", type=int, help="processes for the image tables")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")
    parser.add_argument("--ignore-extra-labels", action="store_true",
                        help="skip (and report) label entries for pairs that are not positives")
    args = parser.parse_args(argv)
    datasets.logging.set_verbosity_error()
    try:
        report = build(args.benchmark, args.data_dir, args.output, args.images_dir, args.num_proc,
                       args.overwrite, args.ignore_extra_labels)
    except (ReleaseError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    counts = report["counts"]
    print(f"wrote {args.output}: {counts['labelled_pairs']}/{counts['positive_pairs']} positive pairs labelled "
          f"from {counts['label_files']} label files")
    for key in ("unlabelled_positives", "clipped", "empty_masks", "ignored_label_entries"):
        if counts[key]:
            print(f"warning: {counts[key]} {key.replace('_', ' ')} (see {args.output / 'build_report.json'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
