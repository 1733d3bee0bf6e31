#!/usr/bin/env python
"""Score a method's result files on PROxford / PRParis with the pixret_map metric.

    python tools/evaluate.py --dataset DATASET --predictions preds.json [--ranks ranks.npy] \\
        [--format text|markdown|json] [--per-query per_query.csv]

DATASET is a built dataset folder or a Hub id (pixret/proxford). Predictions: a
COCO-results-style JSON list of {query_id, index_id, segmentation (RLE) and/or bbox}
or Parquet with those columns. Ranks: .npy of index ids, (num_queries, K) or
revisitop's (K, num_queries). Prints the paper-style row per protocol: mean mIoU
(D/S), pixel mAP@50:5:95 (det/seg), image mAP and mP@1/5/10.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != TOOLS]  # this file is not the evaluate package
ROOT = TOOLS.parent
sys.path.insert(0, str(ROOT))

import datasets  # noqa: E402
import evaluate  # noqa: E402
from huggingface_hub import DatasetCard  # noqa: E402

from pixret.results import ResultsError, load_predictions, load_ranks  # noqa: E402

METRIC = ROOT / "metric" / "pixret_map"
COLUMNS = [("miou_det", "mIoU D"), ("miou_seg", "mIoU S"), ("map_det", "mAP det"), ("map_seg", "mAP seg"),
           ("image_map", "image mAP"), ("image_mp@1", "mP@1"), ("image_mp@5", "mP@5"), ("image_mp@10", "mP@10")]


def benchmark_of(dataset: str) -> str:
    """proxford / prparis from a local folder's card, or from the Hub id."""
    card = Path(dataset) / "README.md"
    name = DatasetCard.load(card).data.get("pretty_name", "") if card.is_file() else dataset
    return "prparis" if "paris" in str(name).lower() else "proxford"


def score(dataset: str, predictions_path, ranks_path=None, protocols=("medium", "hard"), benchmark=None,
          ranks_layout=None) -> dict:
    """{protocol: metric results} for the result files."""
    benchmark = benchmark or benchmark_of(dataset)
    index = datasets.load_dataset(dataset, "index", split="test").select_columns(["height", "width"])
    queries = datasets.load_dataset(dataset, "queries", split="test").select_columns(["query_id"])
    sizes = list(zip(index["height"], index["width"]))
    predicted = load_predictions(predictions_path, len(queries), sizes)
    ranks = None if ranks_path is None else load_ranks(ranks_path, len(queries), ranks_layout)
    metric = evaluate.load(str(METRIC), benchmark)
    out = {}
    for protocol in protocols:
        split = datasets.load_dataset(dataset, split=protocol)
        preds = [predicted.get(pair) for pair in zip(split["query_id"], split["index_id"])]
        out[protocol] = metric.compute(predictions=[None if p is None else {"mask": p["mask"], "bbox": p["bbox"]}
                                                    for p in preds], references=split, ranks=ranks)
    return out


def render(results: dict, fmt: str) -> str:
    def pct(value):
        return "-" if value is None else f"{100 * value:.2f}"

    if fmt == "json":
        return json.dumps({p: {k: v for k, v in r.items() if k != "per_query"} for p, r in results.items()}, indent=1)
    header = ["protocol"] + [label for key, label in COLUMNS]
    rows = [[p] + [pct(r.get(key)) for key, _ in COLUMNS] for p, r in results.items()]
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    return "\n".join("  ".join(str(c).rjust(w) for c, w in zip(row, widths)) for row in [header] + rows)


def write_per_query(results: dict, path) -> None:
    keys = ["miou_det", "miou_seg", "image_ap", "image_p@1", "image_p@5", "image_p@10"]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["protocol", "query_id", *keys, "ap_det", "ap_seg"])
        for protocol, result in results.items():
            per_query = result["per_query"]
            for q in per_query["query_id"]:
                row = [protocol, q] + [_cell((per_query.get(k) or [None] * (q + 1))[q]) for k in keys]
                for key in ("ap_det", "ap_seg"):  # mean over the thresholds at which the query counts
                    values = [v for v in ((per_query.get(key) or [[]] * (q + 1))[q]) if v is not None]
                    row.append(_cell(sum(values) / len(values) if values else None))
                writer.writerow(row)


def _cell(value):
    return "" if value is None else f"{value:.6f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="built dataset folder or Hub id")
    parser.add_argument("--predictions", required=True, type=Path, help=".json (COCO results style) or .parquet")
    parser.add_argument("--ranks", type=Path, help=".npy of index ids per query, best first")
    parser.add_argument("--ranks-layout", choices=["queries-first", "revisitop"],
                        help="(num_queries, K) or revisitop's (K, num_queries); needed only when ambiguous")
    parser.add_argument("--protocols", nargs="+", default=["medium", "hard"], choices=["easy", "medium", "hard"])
    parser.add_argument("--benchmark", choices=["proxford", "prparis"], help="default: from the dataset card")
    parser.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    parser.add_argument("--per-query", type=Path, help="write per-query figures as CSV")
    args = parser.parse_args(argv)
    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    try:
        results = score(args.dataset, args.predictions, args.ranks, args.protocols, args.benchmark, args.ranks_layout)
    except (ResultsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(render(results, args.format))
    if args.per_query:
        write_per_query(results, args.per_query)
    return 0


if __name__ == "__main__":
    sys.exit(main())
