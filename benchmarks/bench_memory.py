#!/usr/bin/env python
"""Peak memory of `pixret evaluate` on hostile result files: bounded by the file's content, or refused.

    python benchmarks/bench_memory.py [--cap-gb 4] [--cases N1 N2 N3 N4] [--source DIR] [--keep DIR]

Builds a PROxford-sized dataset in a temporary folder (70 queries, 4,993 index images of 48 x 64 pixels, one
of 768 x 1024: pixret.synthetic's release layout, built by pixret.build), then runs `pixret evaluate` in a
child process on each hostile shape, under an address-space cap (RLIMIT_AS, --cap-gb) so that a shape that blows up
ends in a MemoryError instead of eating the machine:

- base: a plain evaluation (a box per positive pair, random ranks): the child's footprint before any input;
- N1: an authors' matching result (.npy) whose 4,000 keys all point to one 100,000-point array (~1.6 MB);
- N2: Parquet predictions of one RLE (~11,000 characters, 768 x 1024) reused over 100,000 rows (~0.2 MB:
  pyarrow's dictionary encoding stores the string once; its size is not the index images');
- N3: an authors' matching result of one region of 3,000,000 points (~48 MB), on a 768 x 1024 image;
- N4: the plain evaluation with --resamples 1000000 (the documented maximum);
- N4c: `pixret compare` of the plain method and another at --resamples 1000000 (paired bootstrap, sign flips);
- P: not hostile: Parquet predictions of 100,000 pairs, each with its own mask and box (read in full, scored).

Prints, per shape: the input's size, the child's peak resident memory (its VmHWM) and that peak over the
base run's per MB of input, the wall time, and the first line of the error, or "result". ``--source DIR``
runs the pixret package of DIR (e.g. an older checkout, for before / after figures) instead of the
installed one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pixret import synthetic
from pixret.build import build

NUM_QUERIES, NUM_INDEX = 70, 4993
HEIGHT, WIDTH = 48, 64
CASES = ("base", "N1", "N2", "N3", "N4", "N4c", "P")


def dataset(folder: Path) -> tuple[Path, dict]:
    """A built dataset of revisitop's shape (made-up names: it evaluates as "custom") and its gnd. Its images are
    48 x 64 pixels but for N3's pair (BIG_PAIR): 768 x 1024, a photo's size, with a label of that size."""
    gnd = synthetic.tiny_gnd(NUM_QUERIES, NUM_INDEX)
    release = folder / "release"
    labels = synthetic.write_tiny_release(release, gnd=gnd, height=HEIGHT, width=WIDTH)["labels"]
    q, i = big_pair(gnd)
    synthetic.write_jpeg(release, "proxford", gnd["imlist"][i], np.full((768, 1024, 3), 128, np.uint8))
    synthetic.write_label(release, labels[q, i], [np.array([[100, 100], [900, 120], [880, 700], [120, 650]], float)],
                          768, 1024, f"{gnd['imlist'][i]}.jpg")
    build("proxford", release, folder / "dataset")
    return folder / "dataset", gnd


def big_pair(gnd: dict) -> tuple[int, int]:
    """N3's pair: query 0 and its first easy positive."""
    return 0, gnd["gnd"][0]["easy"][0]


def plain_inputs(folder: Path, gnd: dict, seed: int = 0) -> list[str]:
    """A box for every positive pair, and random (70, 4,993) ranks: a plain method's files."""
    rng = np.random.default_rng(seed)
    entries = [{"query_id": q, "index_id": i, "bbox": [float(v) for v in rng.uniform(2, 20, 4)]}
               for q, g in enumerate(gnd["gnd"]) for i in g["easy"] + g["hard"]]
    (folder / f"plain{seed}.json").write_text(json.dumps(entries))
    np.save(folder / f"ranks{seed}.npy", np.stack([rng.permutation(NUM_INDEX) for _ in range(NUM_QUERIES)]))
    return ["--predictions", str(folder / f"plain{seed}.json"), "--ranks", str(folder / f"ranks{seed}.npy")]


def shared_points(folder: Path) -> list[str]:
    """N1: 4,000 keys, one 100,000-point array (pickle stores it once)."""
    points = np.random.default_rng(1).uniform(0, [WIDTH - 1, HEIGHT - 1], (100_000, 2))
    keys = [f"qimlist_{k % NUM_QUERIES}_imlist_{k // NUM_QUERIES}" for k in range(4000)]
    path = folder / "n1" / "matching_result" / "proxford.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, {key: points for key in keys}, allow_pickle=True)
    return ["--predictions", str(path)]


def repeated_rle(folder: Path) -> list[str]:
    """N2: one valid 768 x 1024 RLE with many runs (not the index images' size) over 100,000 distinct pairs;
    pyarrow's defaults (dictionary encoding, snappy) store the string once."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pixret import masks

    rng = np.random.default_rng(2)
    flat = np.zeros(768 * 1024, np.uint8)
    edges = np.cumsum(rng.integers(1, 200, 6000))
    for start, stop in zip(edges[:-1:2], edges[1::2]):
        flat[start:stop] = 1
    rle = masks.encode(flat.reshape(1024, 768).T.copy())
    rows = 100_000
    counts = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, np.int32)), pa.array([rle["counts"]]))
    sizes = pa.array([list(rle["size"])] * rows, pa.list_(pa.int32()))
    pairs = rng.permutation(NUM_QUERIES * NUM_INDEX)[:rows]  # distinct pairs, in no order
    table = pa.table({"query_id": pairs % NUM_QUERIES, "index_id": pairs // NUM_QUERIES,
                      "segmentation": pa.StructArray.from_arrays([sizes, counts], ["size", "counts"])})
    path = folder / "n2.parquet"
    pq.write_table(table, path, store_schema=False)  # as a writer that knows no Arrow types: counts are strings
    return ["--predictions", str(path)]


def many_masks(folder: Path) -> list[str]:
    """P: 100,000 distinct pairs, each with its own rectangle mask of its image's size and a box."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pixret import masks

    rng = np.random.default_rng(4)
    rows = 100_000
    pairs = rng.permutation(NUM_QUERIES * NUM_INDEX)[:rows]
    boxes = np.column_stack([rng.integers(0, WIDTH // 2, rows), rng.integers(0, HEIGHT // 2, rows),
                             rng.integers(4, WIDTH // 2, rows), rng.integers(4, HEIGHT // 2, rows)])
    segmentation = []
    for x, y, w, h in boxes:
        pixels = np.zeros((HEIGHT, WIDTH), np.uint8)
        pixels[y:y + h, x:x + w] = 1
        segmentation.append(masks.encode(pixels))
    big = pairs // NUM_QUERIES == big_pair(synthetic.tiny_gnd(NUM_QUERIES, NUM_INDEX))[1]  # its image is 768x1024
    table = pa.table({"query_id": pairs[~big] % NUM_QUERIES, "index_id": pairs[~big] // NUM_QUERIES,
                      "segmentation": [m for m, b in zip(segmentation, big) if not b],
                      "bbox": boxes[~big].astype(float).tolist()})
    path = folder / "p.parquet"
    pq.write_table(table, path)
    return ["--predictions", str(path)]


def huge_region(folder: Path, gnd: dict) -> list[str]:
    """N3: one scored pair, one region of 3,000,000 points inside its 768 x 1024 image."""
    points = np.random.default_rng(3).uniform(0, [1023, 767], (3_000_000, 2))
    path = folder / "n3" / "matching_result" / "proxford.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    q, i = big_pair(gnd)
    np.save(path, {f"qimlist_{q}_imlist_{i}": points}, allow_pickle=True)
    return ["--predictions", str(path)]


def decoded_megabytes(path: Path) -> float:
    """What a Parquet file's predictions decode to (pixret's count: 8 bytes a value, plus string bytes), read with
    its strings as dictionaries (nothing expanded)."""
    import pyarrow.parquet as pq
    from pixret.metric.files import results

    with pq.ParquetFile(path) as probe:
        strings = [k for k in range(len(probe.schema)) if results._dictionary_readable(probe.schema.column(k))]
    with pq.ParquetFile(path, read_dictionary=strings) as reader:
        return sum(results._decoded_bytes(column) for group in range(reader.num_row_groups)
                   for column in reader.read_row_group(group).columns) / 1e6


# the child: pixret's command, and at exit its own peak resident memory (VmHWM: the high-water mark of its own
# address space; ru_maxrss would also hold the parent's, which a forked child inherits across exec)
CHILD = """import atexit, sys
def peak():
    with open("/proc/self/status") as status:
        print("PEAK_KB", next(line.split()[1] for line in status if line.startswith("VmHWM")), file=sys.stderr)
atexit.register(peak)
from pixret.cli import main
sys.exit(main())
"""


def run(argv: list[str], cap_bytes: int, source: str | None, timeout: float, cwd: Path) -> dict:
    """`pixret <argv>` in a child under RLIMIT_AS = cap_bytes: its peak RSS, wall time, exit code, output."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    if source:
        env["PYTHONPATH"] = os.pathsep.join([source, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-c", CHILD, *argv], stdout=out, stderr=err, preexec_fn=limit,
                                 env=env, cwd=cwd)  # not the checkout's folder: -c puts the cwd first on sys.path
        try:
            child.wait(timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            timed_out = True
        wall = time.perf_counter() - start
        err.seek(0)
        lines = err.read().decode(errors="replace").strip().splitlines()
    peaks = [int(line.split()[1]) * 1024 for line in lines if line.startswith("PEAK_KB ")]
    return {"peak": peaks[0] if peaks else None, "wall": wall, "code": child.returncode, "timed_out": timed_out,
            "stderr": "\n".join(line for line in lines if not line.startswith("PEAK_KB "))}


def outcome(result: dict) -> str:
    if result["timed_out"]:
        return "killed at the time limit"
    if result["code"] == 0:
        return "result"
    if result["code"] < 0:
        return f"killed by signal {-result['code']} ({signal.Signals(-result['code']).name})"
    lines = [line for line in result["stderr"].splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:") or "Error" in line]
    return f"exit {result['code']}: {(errors or lines or ['(no message)'])[-1 if not errors else 0][:220]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES[1:]), choices=CASES[1:])
    parser.add_argument("--cap-gb", type=float, default=4.0, help="address-space cap of each child (default 4)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before a child is killed")
    parser.add_argument("--source", help="a folder whose pixret package the children run (default: the installed)")
    parser.add_argument("--keep", type=Path, help="make the inputs in this folder and keep them, the dataset for "
                        "later runs too (default: a temporary folder)")
    args = parser.parse_args()
    cap = int(args.cap_gb * (1 << 30))
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        data, gnd = (folder / "dataset", synthetic.tiny_gnd(NUM_QUERIES, NUM_INDEX)) \
            if (folder / "dataset").is_dir() else dataset(folder)
        plain = plain_inputs(folder, gnd)
        print(f"dataset: {NUM_QUERIES} queries x {NUM_INDEX:,} index images of {HEIGHT}x{WIDTH} (one 768x1024) "
              f"({time.perf_counter() - start:.0f} s to make); children capped at {args.cap_gb:g} GB of address "
              f"space; pixret from {args.source or 'the installed package'}")
        evaluate = ["evaluate", "--dataset", str(data), "--format", "json"]
        other = plain_inputs(folder, gnd, 1)
        makers = {"base": lambda: evaluate + plain, "N1": lambda: evaluate + shared_points(folder),
                  "N2": lambda: evaluate + repeated_rle(folder), "N3": lambda: evaluate + huge_region(folder, gnd),
                  "N4": lambda: evaluate + plain + ["--resamples", "1000000"],
                  "N4c": lambda: ["compare", "--dataset", str(data), "--predictions", plain[1], other[1], "--ranks",
                                  plain[3], other[3], "--resamples", "1000000", "--format", "json"],
                  "P": lambda: evaluate + many_masks(folder)}
        base = None
        for case in ["base", *args.cases]:
            argv = makers[case]()
            files = {Path(a) for a in argv if a.startswith(str(folder)) and Path(a).is_file()}
            megabytes = sum(f.stat().st_size for f in files) / 1e6
            result = run(argv, cap, args.source, args.timeout, folder)
            base = base or result["peak"]
            if result["peak"] is None:
                memory = "peak RSS unknown (killed)"
            else:
                over = (result["peak"] - base) / 1e6
                memory = (f"peak RSS {result['peak'] / 1e6:6.0f} MB (+{over:5.0f} MB over base: "
                          f"{over / megabytes:7.1f} MB per MB of input)")
            decoded = "".join(f" (decodes to {decoded_megabytes(f):,.0f} MB)" for f in files if f.suffix == ".parquet")
            print(f"{case:4s} input {megabytes:6.2f} MB{decoded}  {memory}  {result['wall']:6.1f} s  {outcome(result)}",
                  flush=True)


if __name__ == "__main__":
    main()
