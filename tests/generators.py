"""Test-only generators, loaded by the ``generators`` fixture (conftest.py): a release whose labels the shapes column
must keep as released, a registry entry of a tiny world, benchmark-shaped rows in memory, revisitop's ground truth as
its .mat file.

They build on the writers of the upstream layout in ``pixret.synthetic``, which ships (the demo writes its world's
release with them); what only the tests use is here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pixret.metric.core.benchmarks import POSITIVE_DIFFICULTIES
from pixret.synthetic import tiny_gnd, write_pair2label, write_tiny_release


# LabelMe shapes as JSON text, for a 64 x 48 image (tests of what the build keeps as released): text, not Python
# floats, so that whole numbers and 18-digit decimals reach the file exactly as written here.
SHAPES_IN_IMAGE = """[
  {"label": "target", "points": [[12, 3], [40.25, 3], [40.25, 20.5], [12, 20.5]], "shape_type": "polygon"},
  {"label": "target", "points": [[44.123456789012345678, 30.1], [60.987654321098765, 44.5]], "shape_type": "rectangle"},
  {"label": "target", "points": [[20.5, 33.25], [26, 36]], "shape_type": "circle"},
  {"label": "target", "points": [[2, 2], [8, 2], [5, 9.000000000000002]], "shape_type": null},
  {"label": "target", "points": [[50, 2], [60, 4], [55.5, 12]]}
]"""
SHAPES_LEAVING_THE_IMAGE = """[
  {"label": "target", "points": [[-5.5, 40], [123.456789012345678, 42.75], [20, 47.9]]},
  {"label": "target", "points": [[-3, -2], [10.5, 6]], "shape_type": "rectangle"},
  {"label": "target", "points": [[30.333333333333333, 10], [31, 11], [30, 12]], "shape_type": "polygon"}
]"""


def write_label_text(root, rel: str, shapes_text: str, height: int, width: int) -> Path:
    """A LabelMe file whose "shapes" is ``shapes_text`` written as it is (``SHAPES_IN_IMAGE``, ...)."""
    path = Path(root) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"version": "5.0.1", "flags": {}, "shapes": ' + shapes_text + ', "imagePath": "", '
                    f'"imageData": null, "imageHeight": {int(height)}, "imageWidth": {int(width)}}}')
    return path


def write_shapes_release(root, benchmark: str = "proxford") -> dict:
    """``write_tiny_release`` with labels the shapes column must keep as released: query group 0 (queries 0, 1)
    labels its first easy image with ``SHAPES_IN_IMAGE``, group 1 (queries 2, 3) its first easy image with
    ``SHAPES_LEAVING_THE_IMAGE``, and query 1's first hard image has no label. Returns write_tiny_release's dict
    with "in_image" and "leaving" (the label files' paths relative to root) and "unlabelled" (the pair)."""
    info = write_tiny_release(root, benchmark)
    gnd, labels = info["gnd"], dict(info["labels"])
    in_image, leaving = labels[0, gnd["gnd"][0]["easy"][0]], labels[2, gnd["gnd"][2]["easy"][0]]
    write_label_text(root, in_image, SHAPES_IN_IMAGE, 48, 64)
    write_label_text(root, leaving, SHAPES_LEAVING_THE_IMAGE, 48, 64)
    unlabelled = (1, gnd["gnd"][1]["hard"][0])
    del labels[unlabelled]
    write_pair2label(root, benchmark, labels)
    return {**info, "labels": labels, "in_image": in_image, "leaving": leaving, "unlabelled": unlabelled}


def tiny_benchmark(name: str, paper_tables=None, ignored_queries=(3,), gnd: dict | None = None):
    """A registry entry whose revisitop ground truth is ``gnd`` (default ``tiny_gnd()``): once registered, a
    tiny release of that gnd written with ``benchmark=name`` builds as that benchmark (tests of what only a
    real benchmark gets). Data is identified by its query names: while it is registered, other data with
    these names is this benchmark too."""
    from pixret.metric.core.benchmarks import Benchmark, lists_digest

    gnd = gnd or tiny_gnd()
    title = name.capitalize()
    return Benchmark(
        name=name, pretty_name=f"PR{title}", revisitop_name=f"r{name}3k",
        revisitop_pretty=f"Revisited {title} (R{title}3k)",
        label_prefix=name, images=(f"{name}_images.tgz",), images_url=f"https://example.org/{name}",
        images_source=f"made-up pictures (https://example.org/{name}), for the test",
        query_names=tuple(gnd["qimlist"]), index_size=len(gnd["imlist"]),
        counts=tuple((len(g["easy"]), len(g["hard"]), len(g["junk"])) for g in gnd["gnd"]),
        ignored_queries=ignored_queries, paper_tables=paper_tables,
        gnd_sha256=lists_digest(*([g[k] for g in gnd["gnd"]] for k in ("easy", "hard", "junk"))))


def split_rows(names, counts, index_size: int, mask: dict, protocol: str = "medium") -> list[dict]:
    """Rows of a pairs split with these query names and (easy, hard, junk) list lengths, in memory (ids made up;
    every positive has ``mask``): a benchmark-shaped split for checks that read names and list lengths."""
    rows = []
    for q, (name, per_kind) in enumerate(zip(names, counts)):
        kinds = [k for k, n in zip(("easy", "hard", "junk"), per_kind) for _ in range(n)]
        for i, kind in enumerate(kinds):
            positive = kind in POSITIVE_DIFFICULTIES[protocol]
            rows.append({"query_id": q, "index_id": (q * 37 + i * 11) % index_size, "query_name": name,
                         "difficulty": kind, "positive": positive, "mask": mask if kind != "junk" else None})
    return rows


def write_gnd_mat(path, gnd: dict) -> Path:
    """revisitop's gnd as its MATLAB file: 1-based ids, 1 x N rows, cell arrays of names (needs scipy)."""
    from scipy.io import savemat

    def ids(values):
        return np.asarray(values, np.int32).reshape(1, -1) + 1 if len(values) else np.zeros((0, 0), np.uint8)

    entries = np.zeros((len(gnd["gnd"]), 1), dtype=[(k, object) for k in ("easy", "hard", "junk", "bbx")])
    for q, entry in enumerate(gnd["gnd"]):
        entries[q, 0] = (ids(entry["easy"]), ids(entry["hard"]), ids(entry["junk"]),
                         np.asarray(entry["bbx"], np.float64).reshape(1, 4))
    cells = lambda names: np.asarray([[np.asarray([n]) for n in names]], dtype=object)  # noqa: E731
    savemat(str(path), {"imlist": cells(gnd["imlist"]), "qimlist": cells(gnd["qimlist"]), "gnd": entries})
    return Path(path)
