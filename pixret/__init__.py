"""pixret: PROxford and PRParis pixel retrieval benchmarks on the Hugging Face Hub.

    import pixret
    metric = pixret.load_metric("proxford")      # the evaluate module shipped with the package

Modules:
    masks      COCO compressed RLE verbs (encode, decode, area, bbox, iou, from_polygons)
    geometry   homographies, projection, polygon clipping, areas, rasterisation
    release    reading the upstream label release safely (gnd, pair2labelpath, LabelMe, JPEGs)
    dataset    opening a built dataset (a folder or a Hub id) and knowing which benchmark it is
    build      release -> hub-ready dataset folder (Parquet, card, report)
    synthetic  writing releases in the upstream layout (tests, benchmarks, demo)
    world      the demo's procedural pixel-retrieval world
    baselines  reference methods: ranking + mask per (query, image)
    report     Figure-1 style pictures and the HTML gallery
    cli        the ``pixret`` command
    metric     the evaluate module ``pixret_map`` and its plain functions (the Space's folder)

The ``datasets`` builder is the top-level module ``proxford_prparis``.
"""

from __future__ import annotations

__version__ = "0.2.0"


def load_metric(config_name: str, **kwargs):
    """The ``pixret_map`` evaluate module shipped with this package, for config
    "proxford", "prparis" or "custom" (independent of the current directory)."""
    import importlib.resources

    import evaluate

    script = importlib.resources.files("pixret.metric") / "pixret_map.py"
    with importlib.resources.as_file(script) as path:
        return evaluate.load(str(path), config_name, **kwargs)
