#!/usr/bin/env python
"""Time `pixret build` on a release with the full ROxford structure (numbers quoted in docs/performance.md).

    python benchmarks/bench_build.py [--gnd ../shared/data/revisitop/gnd_roxford5k.pkl] [--workdir DIR]
                                     [--repeats 3] [--archive-only]

The release is written once into --workdir (kept for reruns): revisitop's real
ground truth, one LabelMe file per (query group, positive image) as upstream
(2,463 for ROxford), synthetic 1024x768 JPEGs for the 4,993 index and 70 query
images, and the same JPEGs as a flat ``oxbuild_images.tgz``. Then, from one run:
the pairs config alone through the ``datasets`` builder class (target < 10 s), the whole
build from the folder (image checks on every core, then on one: ``--num-proc 1``) with each
config's share of the Parquet, the preview config alone (its pictures made from the release,
labels already read), and reading the JPEG files (bytes only, and bytes plus the check the build
does to refuse corrupt files). Last (alone with ``--archive-only``), interleaved over ``--repeats`` rounds
(the machine may be busy: ratios to the plain pass of the same round), each round in turn: a plain
``tarfile`` pass reading every member, reading the archive with the image checks (``ImageSource.load`` +
``check``: the build's archive part) on every core and on one, and the whole build from the archive on every
core and on one. Wall and CPU (process) times; min / median over the rounds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tarfile
import tempfile
import time
from pathlib import Path

import datasets
import numpy as np
from datasets.utils.py_utils import convert_file_size_to_int
from tqdm import tqdm

from pixret import rows, synthetic
from pixret.build import build, write_config
from pixret.images import open_images, read_jpeg
from pixret.release import load_pickle, locate_release, verify_images
from proxford_prparis import ProxfordPrparis

ROOT = Path(__file__).resolve().parents[1]


def query_groups(gnd: dict) -> list[int]:
    """Queries with identical easy/hard/junk lists form a group (they share label files upstream)."""
    keys, groups = {}, []
    for entry in gnd["gnd"]:
        key = tuple(tuple(entry[k]) for k in ("easy", "hard", "junk"))
        groups.append(keys.setdefault(key, len(keys)))
    return groups


def write_release(root: Path, gnd: dict, height: int, width: int, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    synthetic.write_gnd(root, "proxford", gnd)
    groups = query_groups(gnd)
    labels = {}
    for q, entry in enumerate(gnd["gnd"]):
        for i in list(entry["easy"]) + list(entry["hard"]):
            labels[q, i] = f"labels/group{groups[q]:02d}/{gnd['imlist'][i]}.json"
    for rel in tqdm(sorted(set(labels.values())), desc="labels"):
        n = int(rng.integers(6, 20))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
        radius = rng.uniform(0.1, 0.3) * min(height, width) * rng.uniform(0.7, 1.3, n)
        points = np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], 1)
        synthetic.write_label(root, rel, [points], height, width)
    synthetic.write_pair2label(root, "proxford", labels)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 // width, yy * 255 // height, (xx + yy) * 255 // (width + height)], -1)
    for name in tqdm(gnd["imlist"] + gnd["qimlist"], desc="images"):
        noise = rng.integers(0, 40, (height // 8, width // 8, 1)).repeat(8, 0).repeat(8, 1)
        synthetic.write_jpeg(root, "proxford", name, (base + noise).clip(0, 255))
    return len(set(labels.values()))


def archive_rounds(release: Path, archive: Path, workdir: Path, repeats: int) -> None:
    """The whole build from the archive against a plain tarfile pass, interleaved: wall and CPU, min / median, and
    the median of the per-round ratios (each to the plain pass of its own round)."""
    with tarfile.open(archive, "r|gz") as tar:
        names = [member.name.rsplit("/", 1)[-1][:-4] for member in tar if member.isfile()]
    cores = os.cpu_count() or 1

    def plain_pass():
        with tarfile.open(archive, "r|gz") as tar:
            for member in tar:
                if member.isfile():
                    tar.extractfile(member).read()

    def archive_part(workers):
        images = open_images([archive], workers)
        assert not images.load(names, progress=False) and not images.check(names, progress=False)

    def whole_build(workers):
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            build("proxford", release, Path(tmp) / "out", images=[archive], num_proc=workers)

    runs = {"plain tarfile pass": plain_pass,
            f"archive read + image checks, {cores} threads": lambda: archive_part(cores),
            "archive read + image checks, in the reading thread (--num-proc 1)": lambda: archive_part(1),
            f"whole build from the archive, {cores} threads": lambda: whole_build(cores),
            "whole build from the archive, --num-proc 1": lambda: whole_build(1)}
    wall = {what: [] for what in runs}
    cpu = {what: [] for what in runs}
    for _ in tqdm(range(repeats), desc="rounds"):
        for what, run in runs.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            wall[what].append(time.perf_counter() - start)
            cpu[what].append(time.process_time() - start_cpu)
    print(f"{archive.name} ({archive.stat().st_size / 1e6:.0f} MB, {len(names)} JPEGs), {repeats} interleaved rounds, "
          f"{cores} cores, load average {os.getloadavg()[0]:.1f} at the end:")
    plain = wall["plain tarfile pass"]
    for what in runs:
        ratios = [t / p for t, p in zip(wall[what], plain)]
        print(f"  {what}: wall min {min(wall[what]):.2f} s, median {statistics.median(wall[what]):.2f} s; "
              f"CPU median {statistics.median(cpu[what]):.2f} s"
              + ("" if what == "plain tarfile pass" else
                 f" -> {statistics.median(ratios):.2f}x the plain pass (median of rounds; best {min(ratios):.2f}x)"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gnd", type=Path, default=ROOT.parent / "shared/data/revisitop/gnd_roxford5k.pkl")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "pixret-bench-build")
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds of the archive comparison")
    parser.add_argument("--archive-only", action="store_true", help="only the interleaved archive comparison")
    args = parser.parse_args()
    release = args.workdir / f"release-{args.width}x{args.height}"
    if not (release / "oxford_pair2labelpath.npy").exists():
        gnd = load_pickle(args.gnd)  # restricted unpickler: no code in the file runs
        shutil.rmtree(release, ignore_errors=True)
        write_release(release, gnd, args.height, args.width)
    jpegs = sorted((release / "revisitop/data/roxford5k/jpg").glob("*.jpg"))
    archive = args.workdir / f"oxbuild_images-{args.width}x{args.height}.tgz"
    if not archive.exists():
        synthetic.write_archive(archive, {p.stem: p.read_bytes() for p in jpegs})
    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    if not args.archive_only:
        folder_lines(release, jpegs, args)
    archive_rounds(release, archive, args.workdir, args.repeats)


def folder_lines(release: Path, jpegs: list[Path], args) -> None:
    """The builder class, the build from the folder, the preview config, reading and checking the JPEGs."""
    label_files = sum(1 for _ in (release / "labels").rglob("*.json"))
    print(f"release: {label_files} label files, {len(jpegs)} JPEGs of {args.width}x{args.height}, "
          f"{sum(p.stat().st_size for p in jpegs) / 1e6:.0f} MB")
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        start = time.perf_counter()
        builder = ProxfordPrparis(config_name="pairs", data_dir=str(release), benchmark="proxford",
                                  cache_dir=str(Path(tmp) / "cache"))
        builder.download_and_prepare(output_dir=str(Path(tmp) / "pairs"), file_format="parquet")
        t_pairs = time.perf_counter() - start
        num_rows = sum(s.num_examples for s in builder.info.splits.values())
    print(f"pairs config (3 splits, {num_rows} rows, {label_files} label files): {t_pairs:.2f} s")

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        start = time.perf_counter()
        build("proxford", release, Path(tmp) / "out")
        t_build = time.perf_counter() - start
        sizes = {config: sum(p.stat().st_size for p in (Path(tmp) / "out" / config).glob("*.parquet"))
                 for config in rows.FEATURES}
    print(f"whole build from the folder ({' + '.join(sizes)}, {sum(sizes.values()) / 1e6:.0f} MB of Parquet: "
          + ", ".join(f"{config} {size / 1e6:.1f} MB" for config, size in sizes.items()) + f"): {t_build:.2f} s")
    tables = rows.Tables(locate_release("proxford", release))
    verify_images(tables.release, tables.gt)  # images checked and labels read first, as the build does
    tables.pair_masks
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        start = time.perf_counter()
        info = write_config(Path(tmp), "proxford", "preview", tables, convert_file_size_to_int("500MB"))
        t_preview = time.perf_counter() - start
    print(f"the preview config alone ({info.splits['test'].num_examples} rows, {info.download_size / 1e6:.1f} MB): "
          f"{t_preview:.2f} s")
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        start = time.perf_counter()
        build("proxford", release, Path(tmp) / "out", num_proc=1)
        t_one = time.perf_counter() - start
    print(f"the same with --num-proc 1 (images checked on one core): {t_one:.2f} s")

    start = time.perf_counter()
    for path in jpegs:
        path.read_bytes()
    t_read = time.perf_counter() - start
    start = time.perf_counter()
    for path in jpegs:
        read_jpeg(path)
    t_check = time.perf_counter() - start
    print(f"reading the {len(jpegs)} JPEGs: bytes {t_read:.2f} s; bytes + the check (strict 1/8-scale decode) "
          f"{t_check:.2f} s on one core -> whole build = {t_build / t_check:.2f}x the one-core read+check")


if __name__ == "__main__":
    main()
