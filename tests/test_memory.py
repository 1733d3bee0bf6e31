"""Memory bounded by a file's content: Parquet predictions that expand far past their size are refused before they
are decoded, a .npy header is held to the bytes after it, and bootstrap resamples are drawn in chunks (the same
draws as one (resamples, queries) draw).

The hostile files are checked in a child process under an address-space cap (RLIMIT_AS), so that a regression ends
in a MemoryError there instead of in the test machine; the bootstrap's bound is tracemalloc's peak (numpy's arrays
are traced). ``benchmarks/bench_memory.py`` measures the same shapes at full size through `pixret evaluate`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pixret import masks
from pixret.cli import main
from pixret.metric.files import results
from pixret.metric.core import uncertainty
from pixret.metric.files.results import ResultsError, read_predictions, read_ranks

SIDES = (24, 32)  # (height, width) of every index image here


def _rle_with_runs(height: int, width: int, runs: int, seed: int = 0) -> dict:
    """A valid RLE of about ``runs`` runs: a long counts string."""
    rng = np.random.default_rng(seed)
    flat = np.zeros(height * width, np.uint8)
    edges = np.cumsum(rng.integers(1, max(2, 2 * height * width // runs), runs))
    edges = edges[edges < flat.size]
    for start, stop in zip(edges[:-1:2], edges[1::2]):
        flat[start:stop] = 1
    return masks.encode(flat.reshape(width, height).T.copy())


def _repeated_rle_parquet(path: Path, rows: int, rle: dict, num_queries: int = 70) -> Path:
    """One RLE over ``rows`` distinct pairs, stored once (a dictionary), as pyarrow writes it by default."""
    counts = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, np.int32)), pa.array([rle["counts"]]))
    sizes = pa.array([list(rle["size"])] * rows, pa.list_(pa.int32()))
    pq.write_table(pa.table({"query_id": np.arange(rows) % num_queries, "index_id": np.arange(rows) // num_queries,
                             "segmentation": pa.StructArray.from_arrays([sizes, counts], ["size", "counts"])}),
                   path, store_schema=False)
    return path


# a child that reads predictions under an address-space cap of what it has mapped once imported + CAP_MB, and says
# the first line of what it raised and how far its resident memory grew meanwhile
CHILD = """
import json, resource, sys
import pyarrow.compute, pyarrow.parquet  # imported by the reader when it meets Parquet: not what it reads
from pixret.metric.files.results import read_predictions

def status(key):
    with open("/proc/self/status") as lines:
        return int(next(line.split()[1] for line in lines if line.startswith(key))) * 1024

cap = status("VmSize") + int(sys.argv[2]) * 2**20
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # VmHWM from here
before = status("VmRSS")
try:
    read_predictions(sys.argv[1], 70, [(24, 32)] * 5000)
    said = "read"
except Exception as err:
    said = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
print(json.dumps({"said": said, "grew": status("VmHWM") - before}))
"""
CAP_MB = 384


def _read_capped(path: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}  # few threads and arenas: little to map
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), str(CAP_MB)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# ---------------------------------------------------------------- Parquet predictions (N2)
def test_a_parquet_dictionary_bomb_is_refused_before_decoding(tmp_path):
    """One 11 kB RLE over 30,000 rows: a 0.1 MB file that decodes to 330 MB of strings (once more as Python
    objects). Refused on what its dictionary's strings expand to, before any of it is decoded."""
    rle = _rle_with_runs(768, 1024, 6000)
    assert len(rle["counts"]) > 10_000
    path = _repeated_rle_parquet(tmp_path / "bomb.parquet", 30_000, rle)
    assert path.stat().st_size < 300_000
    child = _read_capped(path)
    said = re.fullmatch(rf"ResultsError: {re.escape(str(path))}: its predictions up to entry 29999 decode to "
                        r"([\d.]+) MB, over this file's limit of 64.0 MB \(64x its [\d.]+ kB, at least 64.0 MB\): "
                        r"refused before decoding .*", child["said"])
    assert said and float(said[1]) > 30_000 * len(rle["counts"]) / 1e6, child
    assert child["grew"] < 32 * 2**20  # what reading it took: nowhere near its decoded size


def test_a_parquet_compression_bomb_is_refused_on_its_metadata(tmp_path):
    """70 plain (not dictionary) strings of 1 MB, zstd-compressed to almost nothing: the row group's metadata says
    what it decodes to, and it is refused before it is read."""
    counts = pa.array(["0" * 1_000_000] * 70)
    sizes = pa.array([[24, 32]] * 70, pa.list_(pa.int32()))
    path = tmp_path / "zstd.parquet"
    pq.write_table(pa.table({"query_id": np.arange(70), "index_id": np.zeros(70, int),
                             "segmentation": pa.StructArray.from_arrays([sizes, counts], ["size", "counts"])}),
                   path, compression="zstd", use_dictionary=False)
    del counts
    assert path.stat().st_size < 200_000
    child = _read_capped(path)
    assert re.fullmatch(rf"ResultsError: {re.escape(str(path))}: its predictions up to entry 69 decode to [\d.,]+ MB, "
                        r"over this file's limit of 64.0 MB .*refused before decoding .*", child["said"]), child
    assert child["grew"] < 32 * 2**20


def test_parquet_within_its_limit_is_read_as_its_json(tmp_path, monkeypatch):
    """Row groups and batches cut anywhere: the same predictions as the JSON of the same entries; a problem is
    reported at its entry's number in the file, across row groups and batches."""
    monkeypatch.setattr(results, "BATCH", 5)
    good = masks.encode(np.pad(np.ones((10, 12), np.uint8), ((6, 8), (10, 10))))
    entries = [{"query_id": k % 4, "index_id": k // 4, "segmentation": dict(good), "bbox": [1.0, 2.0, 3.0, 4.0]}
               for k in range(31)]
    entries[7].pop("segmentation")
    entries[8].pop("bbox")

    def both(name, rows):
        (tmp_path / f"{name}.json").write_text(json.dumps(rows))
        table = pa.Table.from_pylist(rows)
        pq.write_table(table, tmp_path / f"{name}.parquet", row_group_size=7)
        assert pq.ParquetFile(tmp_path / f"{name}.parquet").metadata.num_row_groups == 5
        return [tmp_path / f"{name}.json", tmp_path / f"{name}.parquet"]

    json_path, parquet_path = both("good", entries)
    expected = read_predictions(json_path, 4, [SIDES] * 8)
    assert len(expected) == 31 and expected[(1, 2)]["mask"] == {"size": [24, 32], "counts": good["counts"]}
    assert read_predictions(parquet_path, 4, [SIDES] * 8) == expected
    wrong_size = [dict(e) for e in entries]
    wrong_size[23] = {**entries[23], "segmentation": masks.encode(np.ones((10, 10), np.uint8))}
    duplicate = [dict(e) for e in entries]
    duplicate[30] = {**entries[30], "query_id": 1, "index_id": 0}
    for rows, message in ((wrong_size, r"entry 23 \(pair \(3, 5\)\): mask size \[10, 10\] but index image 5 is "
                                       r"\[24, 32\] \(height, width\)"),
                          (duplicate, r"entry 30 \(pair \(1, 0\)\): duplicate pair; entry 1 has it too")):
        for path in both("bad", rows):
            with pytest.raises(ResultsError, match=rf"^{re.escape(str(path))}: {message}$"):
                read_predictions(path, 4, [SIDES] * 8)


def test_more_entries_than_pairs_are_refused_unread(tmp_path):
    rows = [{"query_id": 0, "index_id": 0, "bbox": [1.0, 2.0, 3.0, 4.0]}] * 13
    (tmp_path / "p.json").write_text(json.dumps(rows))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "p.parquet")
    for path in (tmp_path / "p.json", tmp_path / "p.parquet"):
        with pytest.raises(ResultsError, match=rf"^{re.escape(str(path))}: 13 predictions, more than the 12 pairs of the "
                                               r"dataset's queries and index images \(a pair has one prediction at most\)$"):
            read_predictions(path, 2, [SIDES] * 6)


def test_evaluate_says_the_limit_in_one_line(tiny_dataset, tmp_path, capsys):
    """The tiny dataset has 48 pairs: 40 rows of one 2 MB string (snappy makes it small) are 80 MB decoded."""
    path = _repeated_rle_parquet(tmp_path / "big.parquet", 40, {"size": [24, 32], "counts": "0" * 2_000_000}, 4)
    assert main(["evaluate", "--dataset", str(tiny_dataset["out"]), "--predictions", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert re.fullmatch(rf"error: {re.escape(str(path))}: its predictions up to entry 39 decode to 80.0 MB, over this "
                        r"file's limit of 64.0 MB .*", err), err


def test_a_json_object_of_many_keys_is_read_in_one_pass(tmp_path):
    """JSON shares nothing (its objects are bounded by its bytes), but the duplicate-key check once counted every key
    for every key: a 0.5 MB object took minutes. Now one pass; a key given twice is still named."""
    keys = {f"k{k}": 0 for k in range(40_000)}
    (tmp_path / "wide.json").write_text(json.dumps([{"query_id": 0, "index_id": 0, **keys}]))
    with pytest.raises(ResultsError, match=r"wide.json: entry 0 \(pair \(0, 0\)\): unknown key 'k0'"):
        read_predictions(tmp_path / "wide.json", 2, [SIDES] * 6)
    (tmp_path / "twice.json").write_text('[{"query_id": 0, "index_id": 0, "bbox": [1, 2, 3, 4], "index_id": 1}]')
    with pytest.raises(ResultsError, match=r"twice.json: not valid JSON \(an object has the key 'index_id' twice\)"):
        read_predictions(tmp_path / "twice.json", 2, [SIDES] * 6)


# ---------------------------------------------------------------- ranks (.npy)
def _header(shape, descr: str = "<i8") -> bytes:
    from numpy.lib import format as npy
    import io

    stream = io.BytesIO()
    npy.write_array_header_1_0(stream, {"descr": descr, "fortran_order": False, "shape": shape})
    return stream.getvalue()


def test_a_ranks_header_is_held_to_the_bytes_after_it(tmp_path):
    """A pipe's .npy claiming 2.2 GB over 800 bytes allocates nothing for the claim; a regular file's too; bytes past
    the claim are no ranks either."""
    claim = _header((70, 4_000_000)) + np.arange(100, dtype=np.int64).tobytes()
    read, write = os.pipe()
    os.write(write, claim)
    os.close(write)
    tracemalloc.start()
    try:
        with pytest.raises(ResultsError, match=re.escape(
                "not a plain .npy array of index ids (its header says shape (70, 4000000) of int64, 2,240,000,000 "
                "bytes, and 800 bytes follow it: the file is cut short)")):
            read_ranks(f"/dev/fd/{read}", 70)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        os.close(read)
    assert peak < 1 << 20
    (tmp_path / "claim.npy").write_bytes(claim)
    with pytest.raises(ResultsError, match=r"claim.npy: not a plain .npy array of index ids \(its header says shape "
                                           r"\(70, 4000000\) of int64, 2,240,000,000 bytes, and 800 bytes follow it"):
        read_ranks(tmp_path / "claim.npy", 70)
    np.save(tmp_path / "r.npy", np.tile(np.arange(12), (4, 1)))
    (tmp_path / "long.npy").write_bytes((tmp_path / "r.npy").read_bytes() + b"\0" * 8)
    with pytest.raises(ResultsError, match=r"its header says shape \(4, 12\) of int64, 384 bytes, and 392 bytes follow "
                                           r"it\)$"):
        read_ranks(tmp_path / "long.npy", 4)
    read, write = os.pipe()
    os.write(write, (tmp_path / "r.npy").read_bytes())
    os.close(write)
    try:
        assert (read_ranks(f"/dev/fd/{read}", 4) == np.tile(np.arange(12), (4, 1))).all()
    finally:
        os.close(read)


# ---------------------------------------------------------------- bootstrap resamples (N4)
def _method(seed: int, num_queries: int = 70) -> dict:
    """Per-query figures shaped as the metric's on PROxford: 8 figures, pixel APs at 10 thresholds, some dropped."""
    rng = np.random.default_rng(seed)
    skill = rng.uniform(0.3, 0.95, num_queries)
    ap = [[None if q in (56, 63) or t >= skill[q] else float(rng.uniform(0, 1)) for t in np.arange(50, 100, 5) / 100]
          for q in range(num_queries)]
    return {"per_query": {"query_id": list(range(num_queries)), "ap_det": ap, "ap_seg": ap, **{
        key: rng.uniform(0, 1, num_queries).tolist()
        for key in ("miou_det", "miou_seg", "image_ap", "image_p@1", "image_p@5", "image_p@10")}}}


def _one_draw(result: dict, resamples: int, seed: int) -> dict:
    """Each figure in each resample from one (resamples, queries) draw: what one product of every resample gives."""
    terms = uncertainty.figure_terms(result, "proxford")
    counts = uncertainty.resample_counts(uncertainty.resample_indices(len(result["per_query"]["query_id"]),
                                                                      resamples, seed))
    return dict(zip(terms, uncertainty.resampled(counts, list(terms.values()))))


def _one_draw_p_values(a: dict, b: dict, resamples: int, seed: int) -> dict:
    """Random sign flips of every query from one (resamples, queries) draw (every pair here differs on 70 queries)."""
    terms_a, terms_b = uncertainty.figure_terms(a, "proxford"), uncertainty.figure_terms(b, "proxford")
    signs = np.random.default_rng([seed, 1]).integers(0, 2, (resamples, 70)).astype(np.float64)
    hits = uncertainty._hits(signs, np.arange(70), [(terms_a[f], terms_b[f]) for f in terms_a])
    return {f: (1 + h) / (1 + resamples) for f, h in zip(terms_a, hits)}


@pytest.mark.parametrize("resamples", [1, 2, 1000, uncertainty.RESAMPLES])
def test_up_to_a_chunk_the_figures_are_those_of_one_draw_bit_for_bit(resamples):
    """The default resamples are one chunk: the very floats (and intervals, p-values) one draw gave."""
    a, b = _method(0), _method(1)
    expected = _one_draw(a, resamples, 7)
    with pytest.warns(UserWarning, match="fewer than 1,000") if resamples < 1000 else contextlib.nullcontext():
        drawn = uncertainty.bootstrap(a, "proxford", seed=7, resamples=resamples)
    assert drawn.keys() == expected.keys()
    for figure, (_, samples) in drawn.items():
        assert samples.tobytes() == expected[figure].tobytes(), figure
    if resamples >= 1000:
        comparison = uncertainty.compare(a, b, "proxford", seed=7, resamples=resamples)
        p_values = _one_draw_p_values(a, b, resamples, 7)
        other = _one_draw(b, resamples, 7)
        for figure, difference in comparison.items():
            assert difference.samples.tobytes() == (expected[figure] - other[figure]).tobytes()
            assert difference.p_value == p_values[figure] and not difference.exact
            assert difference.a_interval == uncertainty.percentile_interval(expected[figure])


def test_chunks_are_pieces_of_one_draw(monkeypatch):
    """Ten resamples a chunk (a lone last one joins the chunk before it): the same draws as one draw, so the figures
    equal one product's but for the rounding of BLAS's kernels (1e-15), and the p-values (counted with a tolerance),
    exact or random, are the same."""
    a, b = _method(0), _method(1)
    resamples = 1001  # 100 chunks of 10 rows, and one row
    monkeypatch.setattr(uncertainty, "CHUNK_DRAWS", 70 * 10)
    assert uncertainty._chunks(resamples, 70)[-2:] == [(990, 999), (999, 1001)]
    expected = _one_draw(a, resamples, 3)
    for figure, (_, samples) in uncertainty.bootstrap(a, "proxford", seed=3, resamples=resamples).items():
        assert np.abs(samples - expected[figure]).max() <= 1e-15, figure
    p_values = _one_draw_p_values(a, b, resamples, 3)
    assert {f: d.p_value for f, d in uncertainty.compare(a, b, "proxford", seed=3, resamples=resamples).items()} == \
        p_values
    few = {"per_query": {"query_id": list(range(70)), "miou_det": [0.5] * 58 + [0.9] * 12}}  # 12 queries differ
    other = {"per_query": {"query_id": list(range(70)), "miou_det": [0.5] * 58 + [0.2, 0.95] * 6}}
    chunked = uncertainty.compare(few, other, "custom", resamples=1000)["miou_det"]
    monkeypatch.setattr(uncertainty, "CHUNK_DRAWS", 1 << 20)
    whole = uncertainty.compare(few, other, "custom", resamples=1000)["miou_det"]
    assert chunked.exact and (chunked.p_value, chunked.exact) == (whole.p_value, whole.exact)


@pytest.mark.parametrize("what", ["intervals", "compare"])
def test_bootstrap_memory_is_the_samples_and_one_chunk(monkeypatch, what):
    """Beyond the samples kept (8 bytes a resample and figure), what a bootstrap takes is one chunk's, whatever the
    resamples: 30,000 resamples in chunks of 2^17 draws; one draw would take 30,000 x 70 x 32 bytes (67 MB)."""
    monkeypatch.setattr(uncertainty, "CHUNK_DRAWS", 1 << 17)
    a, b = _method(0), _method(1)
    resamples = 30_000
    tracemalloc.start()
    try:
        if what == "intervals":
            uncertainty.intervals(a, "proxford", resamples=resamples)
            kept = 8 * resamples * 8
        else:
            uncertainty.compare(a, b, "proxford", resamples=resamples)
            kept = (16 + 8) * resamples * 8  # both methods' samples, and the differences kept
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < kept + 6 * 2**20, (peak, kept)  # a chunk: 2^17 draws of 8 bytes, a few times over
