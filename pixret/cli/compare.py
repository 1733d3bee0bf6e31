"""pixret compare: two methods on the same queries, with how sure each figure and each difference is.

    pixret compare --dataset DATASET --predictions A.json B.json [--ranks A.npy B.npy] [--names A B] \\
        [--seed 0] [--resamples 10000] [--margin 5] [--plots DIR] [--format text|markdown|json]

Both are scored as ``pixret evaluate`` scores them. Per protocol it prints each figure of A and B with
its 95% bootstrap interval over the queries, A - B with its paired bootstrap interval and the p-value
of a paired sign-flip test, and the queries on which one method beats the other by more than
--margin points (``pixret.metric.core.uncertainty``). With 70 queries a gap of a point or two is often noise.
A second --dataset scores B on another copy of the same benchmark (a local build and the Hub's): the
two must hold the same ground truth (``BuiltDataset.ground_truth_sha256``), not only the same queries.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pixret.cli import UserError
from pixret.comparison import compare_files
from pixret.metric.core import uncertainty
from pixret.metric.core.benchmarks import PROTOCOLS, R1M_DISTRACTORS, REPORTED
from pixret.metric.views.comparison import methods_comparison_json, methods_comparison_text


def add_arguments(parser) -> None:
    parser.add_argument("--dataset", required=True, nargs="+", metavar="DATASET",
                        help="built dataset folder or Hub id; a second one scores B on another copy of the same "
                             "benchmark")
    parser.add_argument("--predictions", required=True, nargs="+", type=Path, metavar="FILE",
                        help="A's and B's predictions (.json COCO results style, or .parquet)")
    parser.add_argument("--ranks", nargs="+", type=Path, metavar="FILE",
                        help="A's and B's rankings (.npy), for pixel mAP and image mAP")
    parser.add_argument("--names", nargs="+", metavar="NAME", help="the two methods' names (default: file stems)")
    parser.add_argument("--ranks-layout", choices=["queries-first", "revisitop"],
                        help="(num_queries, K) or revisitop's (K, num_queries); needed only when ambiguous")
    parser.add_argument("--distractors", type=int, default=0, metavar="N",
                        help=f"the ranks include N distractor ids after the index (R1M: {R1M_DISTRACTORS})")
    parser.add_argument("--protocols", nargs="+", default=list(REPORTED), choices=PROTOCOLS)
    parser.add_argument("--unofficial", action="store_true",
                        help="leave the ignored queries out of pixel mAP's denominator (not the paper's figure)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the resampling (default 0)")
    parser.add_argument("--resamples", type=int, default=uncertainty.RESAMPLES,
                        help=f"bootstrap resamples and random swaps (default {uncertainty.RESAMPLES})")
    parser.add_argument("--margin", type=float, default=100 * uncertainty.MARGIN, metavar="POINTS",
                        help="list the queries on which one method is better by more than this (default "
                             f"{100 * uncertainty.MARGIN:g} points)")
    parser.add_argument("--plots", type=Path, metavar="DIR",
                        help="write PNGs: per-query differences, bootstrap distribution of the differences")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier --plots folder of this command")
    parser.add_argument("--format", choices=["text", "markdown", "json"], default="text")


def _pair(values, flag: str, what: str) -> list:
    if len(values) != 2:
        raise UserError(f"{flag} takes two {what}, A's then B's; got {len(values)}")
    return list(values)


def _check_arguments(args) -> None:
    _pair(args.predictions, "--predictions", "files")
    if args.ranks:
        _pair(args.ranks, "--ranks", "files (pixel mAP needs both methods' rankings)")
    if len(args.dataset) > 2:
        raise UserError(f"--dataset takes one dataset, or two (A's, then B's copy of the same benchmark); "
                        f"got {len(args.dataset)}")
    if args.names:
        if len(set(_pair(args.names, "--names", "names"))) < 2:
            raise UserError(f"--names: the two methods need different names, got {args.names[0]!r} twice")
    if not 1 <= args.resamples <= uncertainty.MAX_RESAMPLES:
        raise UserError(f"--resamples must be from 1 to {uncertainty.MAX_RESAMPLES:,}, got {args.resamples}")
    if args.seed < 0:
        raise UserError(f"--seed must be 0 or more, got {args.seed}")
    if not args.margin >= 0:
        raise UserError(f"--margin must be 0 or more points, got {args.margin}")
    if args.distractors < 0:
        raise UserError(f"--distractors must be 0 or more, got {args.distractors}")


def run(args) -> int:
    _check_arguments(args)
    comparison, written = compare_files(args.dataset, args.predictions, args.ranks, names=args.names,
                                        ranks_layout=args.ranks_layout, distractors=args.distractors,
                                        protocols=args.protocols, official=not args.unofficial, seed=args.seed,
                                        resamples=args.resamples, margin=args.margin / 100, plots=args.plots,
                                        overwrite=args.overwrite)
    if args.format == "json":
        print(json.dumps(methods_comparison_json(comparison), indent=1))
    else:
        print(methods_comparison_text(comparison, args.format))
    for path in written:  # on stderr: stdout is the comparison (JSON with --format json)
        print(f"wrote {path}", file=sys.stderr)
    return 0
