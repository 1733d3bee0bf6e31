#!/usr/bin/env python
"""Browse a method's results: a static HTML gallery of queries and their top-k images with outlines.

    python tools/show.py --dataset DATASET --ranks ranks.npy [--predictions preds.json] \\
        --output gallery/ [--protocol medium] [--queries 0 5 9] [--top-k 8]

Each query gets a PNG panel: its crop, then its top-k images with the predicted
(magenta) and ground-truth (yellow) outlines, framed green (true positive, IoU > 0.5),
red (false positive) or grey (junk); gallery/index.html links them all.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import datasets
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from pixret import report  # noqa: E402
from pixret.results import ResultsError, load_predictions, load_ranks  # noqa: E402


def show(dataset: str, ranks_path, output, predictions_path=None, protocol: str = "medium", query_ids=None,
         top_k: int = 8, name: str = "method", ranks_layout=None) -> Path:
    queries = datasets.load_dataset(dataset, "queries", split="test")
    index = datasets.load_dataset(dataset, "index", split="test")
    split = datasets.load_dataset(dataset, split=protocol)
    ranks = load_ranks(ranks_path, len(queries), ranks_layout)
    masks = [{} for _ in range(len(queries))]
    if predictions_path is not None:
        sizes = list(zip(index["height"], index["width"]))
        for (q, i), p in load_predictions(predictions_path, len(queries), sizes).items():
            masks[q][i] = p["mask"]
    query_ids = list(range(len(queries))) if query_ids is None else query_ids
    bad = [q for q in query_ids if not 0 <= q < len(queries)]
    if bad:
        raise ResultsError(f"unknown query ids {bad} (the dataset has {len(queries)} queries)")
    return report.write_report(output, f"{name}: top-{top_k} per query ({protocol})", queries, index, split,
                               {name: ranks}, {name: masks}, query_ids, k=top_k, progress=tqdm)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="built dataset folder or Hub id")
    parser.add_argument("--ranks", required=True, type=Path, help=".npy of index ids per query, best first")
    parser.add_argument("--ranks-layout", choices=["queries-first", "revisitop"])
    parser.add_argument("--predictions", type=Path, help=".json (COCO results style) or .parquet")
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--protocol", default="medium", choices=["easy", "medium", "hard"])
    parser.add_argument("--queries", nargs="+", type=int, help="query ids (default: all)")
    parser.add_argument("--top-k", type=int, default=8)
    parser.add_argument("--name", default="method", help="method name shown on the page")
    args = parser.parse_args(argv)
    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    try:
        page = show(args.dataset, args.ranks, args.output, args.predictions, args.protocol, args.queries,
                    args.top_k, args.name, args.ranks_layout)
    except ResultsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
