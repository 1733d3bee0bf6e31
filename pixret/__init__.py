"""pixret: PROxford and PRParis pixel retrieval benchmarks on the Hugging Face Hub.

Modules:
    masks      COCO compressed RLE verbs (encode, decode, area, bbox, from_polygons)
    release    reading the upstream label release safely (gnd, pair2labelpath, LabelMe, JPEGs)
    synthetic  writing releases in the upstream layout (tests, benchmarks, demo)
    world      the demo's procedural pixel-retrieval world
    baselines  reference methods: ranking + mask per (query, image)
    report     Figure-1 style pictures and HTML
    results    reading result files (predictions JSON/Parquet, ranks .npy)

The builder is ``proxford_prparis.py`` and the metric ``metric/pixret_map`` (self-contained).
"""

__version__ = "0.1.0"
