"""pixret build: the upstream files -> a hub-ready dataset folder.

    pixret build --benchmark proxford --labels LABELS --images oxbuild_images.tgz --gnd gnd_roxford5k.mat --output OUT
    pixret build --benchmark proxford --data-dir RELEASE --output OUT      # everything in one release folder
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pixret.cli import UserError
from pixret.metric.core.benchmarks import BENCHMARKS

INTERRUPTED = "interrupted: nothing was written (the partial build was removed)"


def add_arguments(parser) -> None:
    parser.add_argument("--benchmark", required=True, choices=sorted(BENCHMARKS),
                        help="which benchmark the release is (the registry in pixret.metric.core.benchmarks)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--labels", type=Path, help="the authors' label release folder (as extracted; the "
                       "<oxford|paris>_pair2labelpath.npy may be one folder deeper)")
    where.add_argument("--data-dir", type=Path, help="a release folder holding labels, gnd and jpg/ (same as --labels)")
    parser.add_argument("--images", type=Path, action="append",
                        help="a folder of <name>.jpg or an image archive (oxbuild_images.tgz, paris_1.tgz, "
                             "paris_2.tgz); repeat for several (default: jpg/ beside the gnd file)")
    parser.add_argument("--images-dir", type=Path, dest="images", action="append", help=argparse.SUPPRESS)  # the older name
    parser.add_argument("--gnd", type=Path, help="revisitop's gnd_<name>.pkl or .mat (default: found in the release)")
    parser.add_argument("--output", required=True, type=Path, help="dataset folder to write")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an earlier `pixret build` output (only a folder this command wrote)")
    parser.add_argument("--num-proc", type=int, help="threads that decode the images to check them, most of a build's "
                        "work (default: one per core); with more than 1, the configs are also written side by side")
    parser.add_argument("--ignore-extra-labels", action="store_true",
                        help="skip (and report) label entries for pairs that are not positives")
    parser.add_argument("--repo-id", help="the Hub repo the card's examples name (default pixret/<benchmark>, "
                        "or pixret/<benchmark>-demo for data that is not the benchmark)")


def run(args) -> int:
    from pixret.build import build

    if args.num_proc is not None and args.num_proc < 1:
        raise UserError(f"--num-proc must be at least 1, got {args.num_proc}")
    if args.repo_id is not None:
        from pixret.publish import check_repo_id

        check_repo_id(args.repo_id)
    report = build(args.benchmark, args.labels or args.data_dir, args.output, images=args.images, gnd=args.gnd,
                   num_proc=args.num_proc, overwrite=args.overwrite, ignore_extra_labels=args.ignore_extra_labels,
                   repo_id=args.repo_id)
    counts = report["counts"]
    what = ("the benchmark" if report["benchmark"] else
            "NOT the benchmark (its queries are not revisitop's): the card says so")
    print(f"wrote {args.output}: {counts['labelled_pairs']}/{counts['positive_pairs']} positive pairs labelled "
          f"from {counts['label_files']} label files; {report['num_queries']} queries, {report['num_index']} index "
          f"images; {what}")
    for key in ("unlabelled_positives", "clipped", "filled_shapes", "empty_masks", "ignored_label_entries",
                "label_files_with_several_labels"):
        if counts[key]:
            print(f"warning: {counts[key]} {key.replace('_', ' ')} (see {args.output / 'build_report.json'})",
                  file=sys.stderr)
    if report.get("unlisted_archive_images"):
        print(f"note: {report['unlisted_archive_images']} images in the archives are not listed by the ground truth "
              "(ignored)", file=sys.stderr)
    for note in report["notes"]:
        print(f"warning: {note}", file=sys.stderr)
    return 0
