"""pixret: PROxford and PRParis pixel retrieval benchmarks on the Hugging Face Hub.

    import pixret
    metric = pixret.load_metric("proxford")      # the evaluate module shipped with the package

Modules:
    masks      COCO compressed RLE verbs (encode, decode, area, bbox, iou, from_polygons)
    geometry   homographies, projection, polygon clipping, areas, rasterisation
    release    reading the upstream label release safely (gnd, pair2labelpath, LabelMe, JPEGs)
    dataset    opening a built dataset (a folder or a Hub id) and knowing which benchmark it is
    build      release -> hub-ready dataset folder (Parquet, card, report)
    hub_eval   the benchmarks as Hub Benchmarks: eval.yaml, a model's .eval_results/*.yaml (leaderboards)
    synthetic  writing releases in the upstream layout (tests, benchmarks, demo)
    world      the demo's procedural pixel-retrieval world
    baselines  reference methods: ranking + mask per (query, image)
    report     Figure-1 style pictures and the HTML gallery
    writer     a model's outputs -> result files: pairs_to_predict, PredictionWriter / write_predictions,
               ranks_from_scores
    cli        the ``pixret`` command: it parses flags, calls the library (these modules), and prints
    evaluation a method's result files scored on a built dataset (the command, the Space and the demo use it)
    scorecard  what ``pixret evaluate`` shows and writes: tables or JSON, leaderboard files, plots, per-query CSV
    comparison two methods on the same queries, with bootstrap intervals and p-values (``pixret compare``)
    gallery    a method's results as an HTML gallery (``pixret show``)
    demo       the whole project on a generated world (``pixret demo``)
    publish    publishing a dataset, the metric Space or eval results on the Hub (``pixret push``)
    version    the version of pixret
    metric     the evaluation in layers (core, files, views) and the evaluate module ``pixret_map``

The ``datasets`` builder is the top-level module ``proxford_prparis``.
"""

from __future__ import annotations

from pixret.version import __version__  # noqa: F401 - pixret.__version__

WRITER = ("pairs_to_predict", "PredictionWriter", "write_predictions", "ranks_from_scores")
__all__ = ["load_metric", "read_predictions", "align", *WRITER]


def __getattr__(name: str):
    """``pixret.read_predictions`` (a result file -> {pair: prediction}) and ``pixret.align`` (-> the list the metric
    takes, in the rows' order), from ``pixret.metric.files.results``; the result-file writer's ``pairs_to_predict``,
    ``PredictionWriter``, ``write_predictions`` and ``ranks_from_scores``, from ``pixret.writer``. Imported on first
    use (``pixret --help`` stays quick)."""
    if name in ("read_predictions", "align"):
        from pixret.metric.files import results

        return getattr(results, name)
    if name in WRITER:
        from pixret import writer

        return getattr(writer, name)
    raise AttributeError(f"module 'pixret' has no attribute {name!r}")


def load_metric(config_name: str, **kwargs):
    """The ``pixret_map`` evaluate module of this package, for config "proxford", "prparis" or "custom".

    The same module ``evaluate.load("pixret/pixret_map", config_name)`` gives, instantiated straight
    from the installed package: nothing is copied into evaluate's modules cache (which may be
    read-only or shared), and it does not depend on the current directory. ``kwargs`` are
    evaluate's (``experiment_id``, ``num_process``, ``process_id``, ``cache_dir``, ...).
    """
    from pixret.metric.module import PixretMap

    return PixretMap(config_name=config_name, **kwargs)
