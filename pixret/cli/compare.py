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

import filecmp
import json
import sys
import warnings
from pathlib import Path

from pixret.cli import UserError
from pixret.cli.evaluate import check_inputs
from pixret.evaluation import evaluate_files
from pixret.dataset import looks_local, open_dataset
from pixret.metric.files import authors
from pixret.metric.core import uncertainty
from pixret.metric.core.benchmarks import BENCHMARKS, PROTOCOLS, R1M_DISTRACTORS, REPORTED
from pixret.metric.core.figures import FIGURE_KEYS, LABELS
from pixret.metric.views.tables import _render
from pixret import outputs

SHOWN_FLIPS = 8  # queries listed per side in text and Markdown (JSON has them all)
PLOTS = "compare --plots"  # the command named in a --plots folder's marker


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
    predictions = _pair(args.predictions, "--predictions", "files")
    ranks = _pair(args.ranks, "--ranks", "files (pixel mAP needs both methods' rankings)") if args.ranks else [None] * 2
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
    check_inputs([("--predictions", p) for p in predictions] + [("--ranks", r) for r in ranks])
    if args.plots:
        outputs.check_folder(args.plots, PLOTS, args.overwrite, "--plots",
                             [*predictions, *ranks, *(d for d in args.dataset if looks_local(d))])


def _same_file(a: Path | None, b: Path | None) -> bool:
    return a is None and b is None or (a is not None and b is not None and filecmp.cmp(a, b, shallow=False))


def _names(args) -> list[str]:
    if args.names:
        return args.names
    a, b = args.predictions
    for names in ([authors.method_name(a), authors.method_name(b)], [a.parent.name, b.parent.name],
                  [f"{a.parent.name}/{a.stem}", f"{b.parent.name}/{b.stem}"]):
        if names[0] != names[1] and all(names):
            return names
    return ["A", "B"]


def _check_same_benchmark(specs: list[str], protocols) -> None:
    """Two datasets must be copies of the same data: the same queries (by name) and index size, and the same
    ground truth (its digest: the pairs of the compared protocols, the index images' sizes)."""
    a, b = (open_dataset(spec) for spec in specs)
    if a.benchmark != b.benchmark or a.query_names != b.query_names or len(a.index_sizes) != len(b.index_sizes):
        describe = [f"{d.spec} is " + (BENCHMARKS[d.benchmark].pretty_name if d.benchmark in BENCHMARKS else
                                       f"custom data ({len(d.query_names)} queries, {len(d.index_sizes)} index "
                                       "images)") for d in (a, b)]
        raise UserError(f"the two datasets are not the same benchmark: {describe[0]}, {describe[1]} (by their "
                        "query names and index): a comparison needs both methods scored on the same queries")
    digests = [d.ground_truth_sha256(protocols) for d in (a, b)]
    if digests[0] != digests[1]:
        raise UserError(f"the two datasets have the same queries but other ground truth: {a.spec} and {b.spec} differ "
                        f"in the masks, lists or image sizes of {' / '.join(protocols)} (SHA-256 {digests[0][:12]} and "
                        f"{digests[1][:12]}): a difference would be the data's, not the methods'; score both on one "
                        "copy")


def run(args) -> int:
    _check_arguments(args)
    names = _names(args)
    ranks = args.ranks or [None, None]
    specs = args.dataset * 2 if len(args.dataset) == 1 else args.dataset
    if _same_file(*args.predictions) and _same_file(*ranks):
        warnings.warn(f"A and B are the same results ({args.predictions[0]} and {args.predictions[1]}"
                      + (f", {ranks[0]} and {ranks[1]}" if ranks[0] else "") + " hold the same bytes): every "
                      "difference is 0", UserWarning, stacklevel=1)
    if specs[0] != specs[1]:
        _check_same_benchmark(specs, args.protocols)
    evaluation_a, evaluation_b = (_score(name, spec, predictions, rank, args) for name, spec, predictions, rank
                                  in zip(names, specs, args.predictions, ranks))
    results_a, results_b, data = evaluation_a.results, evaluation_b.results, evaluation_a.truth
    comparisons = {p: uncertainty.compare(results_a[p], results_b[p], data.benchmark, not args.unofficial, args.seed,
                                          args.resamples, margin=args.margin / 100) for p in args.protocols}
    missing = {p: _missing(results_a[p], results_b[p], names) for p in args.protocols}
    if args.format == "json":
        print(json.dumps(comparison_json(comparisons, missing, names, data.query_names, args), indent=1))
    else:
        print(comparison_text(comparisons, missing, names, data.query_names, args))
    if args.plots:
        from pixret.metric.views import compare_plots

        inputs = [*args.predictions, *ranks, *(d for d in args.dataset if looks_local(d))]
        with outputs.staged_folder(args.plots, args.overwrite, command=PLOTS, inputs=inputs, flag="--plots") as tmp:
            drawn = compare_plots.save_all(tmp, comparisons, data.query_names, names, args.margin / 100)
        written = [args.plots / path.name for path in drawn]
        for path in written:  # on stderr: stdout is the comparison (JSON with --format json)
            print(f"wrote {path}", file=sys.stderr)
    return 0


def _score(name: str, spec: str, predictions: Path, ranks: Path | None, args):
    """``evaluate_files`` of one method; its warnings say which method they are about."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scored = evaluate_files(spec, predictions, ranks, args.protocols, None, args.ranks_layout, args.distractors,
                                official=not args.unofficial)
    for warning in caught:
        warnings.warn(f"{name}: {warning.message}", warning.category, stacklevel=2)
    return scored


def _missing(result_a: dict, result_b: dict, names) -> dict[str, str]:
    """{figure: who lacks it} for figures only one of the two results has (a box-only method: no mIoU S)."""
    out = {}
    for key in FIGURE_KEYS:
        has = [result_a.get(key) is not None, result_b.get(key) is not None]
        if has[0] != has[1]:
            out[key] = names[has.index(False)]
    return out


# ---------------------------------------------------------------- output
def _percent(value: float, sign: str = "") -> str:
    return f"{100 * value:{sign}.2f}"


def _interval(interval, sign: str = "") -> str:
    return f"[{_percent(interval[0], sign)}, {_percent(interval[1], sign)}]"


def _flips(queries, query_names) -> str:
    """Queries as "id name (A - B in points)"; the first SHOWN_FLIPS of them."""
    shown = ", ".join(f"{q} {query_names[q]} ({100 * d:+.1f})" for q, d in queries[:SHOWN_FLIPS])
    more = f" and {len(queries) - SHOWN_FLIPS} more" if len(queries) > SHOWN_FLIPS else ""
    return (shown + more) or "none"


def comparison_text(comparisons: dict, missing: dict, names, query_names, args) -> str:
    """Per protocol: the figures of A and B and A - B, each with its interval and p-value, and the flips."""
    markdown = args.format == "markdown"
    first = next(iter(comparisons.values()))
    count = len(next(iter(first.values())).query_ids) if first else 0
    lines = [f"A = {names[0]} ({args.predictions[0]}), B = {names[1]} ({args.predictions[1]}); {count} queries, "
             f"{args.resamples:,} paired bootstrap resamples of the queries (seed {args.seed}): [95% interval], in %; "
             "p: paired sign-flip test of no difference (exact: every swap counted)."]
    for protocol, comparison in comparisons.items():
        lines += ["", f"### {protocol}" if markdown else protocol]
        header = ["figure", names[0], names[1], f"{names[0]} - {names[1]}", "p"]
        rows = [[LABELS[f], f"{_percent(d.a)} {_interval(d.a_interval)}", f"{_percent(d.b)} {_interval(d.b_interval)}",
                 f"{_percent(d.difference, '+')} {_interval(d.interval, '+')}",
                 f"{d.p_value:.3g}" + (" exact" if d.exact else "")] for f, d in comparison.items()]
        lines += [_render(header, rows, "markdown" if markdown else "text")] + ([""] if markdown else [])
        if missing[protocol]:
            lines.append("not compared: " + "; ".join(f"{LABELS[f]} ({who} has none)"
                                                     for f, who in missing[protocol].items()))
        for figure in (f for f in uncertainty.HEADLINE if f in comparison):
            d = comparison[figure]
            bullet = "- " if markdown else ""
            lines.append(f"{bullet}{LABELS[figure]}, queries better by more than {args.margin:g} points (A - B): in "
                         f"{names[0]}: {_flips(d.a_better, query_names)}; in {names[1]}: "
                         f"{_flips(d.b_better, query_names)}")
    return "\n".join(lines)


def comparison_json(comparisons: dict, missing: dict, names, query_names, args) -> dict:
    """The comparison as JSON-ready data (figures as fractions, as the metric gives them)."""
    def flips(queries):
        return [{"query_id": q, "query_name": query_names[q], "difference": d} for q, d in queries]

    return {"names": names, "predictions": [str(p) for p in args.predictions], "seed": args.seed,
            "resamples": args.resamples, "level": uncertainty.LEVEL, "margin": args.margin / 100,
            "protocols": {p: {"figures": {f: {"a": d.a, "a_interval": d.a_interval, "b": d.b,
                                              "b_interval": d.b_interval, "difference": d.difference,
                                              "interval": d.interval, "p_value": d.p_value, "p_exact": d.exact,
                                              "a_better": flips(d.a_better), "b_better": flips(d.b_better)}
                                          for f, d in comparison.items()},
                              "not_compared": missing[p]} for p, comparison in comparisons.items()}}
