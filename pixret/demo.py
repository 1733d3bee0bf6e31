"""The whole project on a small generated benchmark, with no download: what ``pixret demo`` does.

1. generates a synthetic pixel-retrieval world in the upstream release layout
   (procedural facades under perspective, scale, lighting, occlusion and clutter);
2. builds it into a dataset folder (``pixret.build``), as the real release (its card says it is a synthetic demo);
3. runs the reference baselines (oracle, whole image, query-box transfer, a Harris + RANSAC matcher; with
   ``with_opencv`` also OpenCV SIFT + RANSAC), each saved as result files;
4. scores them with the pixret_map metric: paper-style tables (Table 1: mean mIoU; Table 2: mAP@50:5:95 and image
   mAP), saved as Markdown and JSON, with the figures of each baseline (those of ``pixret evaluate --plots``);
5. writes a visual report (index.html): the two tables, each baseline's plots at a readable size, and PNG
   panels in the manner of Figure 1 for every query (three shown, the others folded).

    from pixret.demo import run_demo
    summary = run_demo("demo_output", small=True)      # summary["tables"], summary["report"], ...
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path


from pixret import baselines, outputs, report
from pixret.dataset import open_dataset
from pixret.metric.core.benchmarks import REPORTED
from pixret.metric.evaluation import Evaluation, score_method
from pixret.metric.core.figures import LABELS
from pixret.metric.views.tables import methods_table
from pixret.progress import bar
from pixret.world import WHOLE_FACADE, WorldConfig, make_world

RESULT_FOLDERS = ("oracle", "whole_image", "box_transfer", "matcher", "sift")  # each baseline's result files
SMALL = dict(landmarks=2, views_per_landmark=6, background_images=4)  # the world of ``small=True``


def score_baseline(truth, result) -> Evaluation:
    """One baseline scored like result files (``score_method``); the metric's warnings are raised again with
    the baseline they are about."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluation = score_method(truth, result.predictions, result.ranks, protocols=REPORTED, name=result.name)
    for warning in caught:
        warnings.warn(f"{result.name}, {warning.message}", warning.category, stacklevel=2)
    return evaluation


TABLES = (  # (caption, figures per protocol) of the demo's two tables
    ("Table 1: mean mIoU on ground-truth pairs (%), D = detection, S = segmentation", ("miou_det", "miou_seg")),
    ("Table 2: pixel retrieval from the database, mAP@50:5:95 (%), and image-level mAP (%)",
     ("map_det", "map_seg", "image_map")),
)


def report_tables(evaluations: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """The two tables of ``tables`` as (caption, header, rows), for the report page."""
    out = []
    for caption, keys in TABLES:
        columns = [(p, k) for p in REPORTED for k in keys]
        rows = [[name] + ["-" if e.results[p].get(k) is None else f"{100 * e.results[p][k]:.1f}" for p, k in columns]
                for name, e in evaluations.items()]
        out.append((caption, ["method"] + [f"{p} {LABELS[k]}" for p, k in columns], rows))
    return out


def tables(evaluations: dict) -> str:
    """Table 1 and Table 2 style results of every baseline ({name: Evaluation}), as Markdown."""
    methods = {name: evaluation.results for name, evaluation in evaluations.items()}
    return "\n".join([
        TABLES[0][0], "",
        methods_table(methods, [(p, k) for p in REPORTED for k in TABLES[0][1]]), "",
        TABLES[1][0], "",
        methods_table(methods, [(p, k) for p in REPORTED for k in TABLES[1][1]]), "",
        "Pixel mAP follows the authors' evaluation: at each IoU threshold, queries with no positive",
        "localised above it leave the mean, so a method that localises a few images well per query can",
        "score high there; read it together with mean mIoU."]) + "\n"


def run_demo(output, seed: int = 0, small: bool = False, with_opencv: bool = False, report_queries: int = 3,
             top_k: int = 6) -> dict:
    """Generate, build, run the baselines, score them and write the report into ``output`` (an earlier demo output
    there is replaced; nothing else); ``small``: a tiny world, for a quick check. Returns the summary (world, scores,
    timings, the tables as Markdown, the report page's path, the baselines' results)."""
    config = WorldConfig(seed=seed, **(SMALL if small else {}))
    output = Path(output)
    with outputs.staged_folder(output, overwrite=True, command="demo") as tmp:  # an earlier demo output only
        summary = _run(tmp, config, report_queries, top_k, with_opencv)
    summary["report"] = str(output / "report" / "index.html")
    return summary


def _run(folder: Path, config: WorldConfig, report_queries: int, top_k: int, with_opencv: bool) -> dict:
    from pixret.build import build

    timings = {}
    start = time.perf_counter()
    world = make_world(folder / "release", config, progress=bar)
    timings["generate"] = time.perf_counter() - start

    start = time.perf_counter()
    build("proxford", folder / "release", folder / "dataset", synthetic=True)
    data = open_dataset(folder / "dataset")
    splits = {protocol: data.split(protocol) for protocol in REPORTED}
    queries, index = list(data.queries), list(data.index)
    timings["build"] = time.perf_counter() - start

    start = time.perf_counter()
    ranking = baselines.global_ranks(queries, index)
    results = [
        baselines.oracle(queries, index, splits["medium"]),
        baselines.whole_image(queries, index, ranking),
        baselines.box_transfer(queries, index, ranking),
        baselines.matcher(queries, index, progress=bar, seed=config.seed),
    ]
    if with_opencv:
        results.append(baselines.sift_matcher(queries, index, progress=bar))
    timings["baselines"] = time.perf_counter() - start
    for result, stem in zip(results, RESULT_FOLDERS):  # result files for `pixret evaluate`, `show`, `compare`
        result.save(folder / stem)

    start = time.perf_counter()
    truth = data.ground_truth()  # the demo world is not one of the benchmarks: scored as custom data
    evaluations = {r.name: score_baseline(truth, r) for r in bar(results, desc="scoring")}
    scores = {name: evaluation.figures(evaluation.intervals()) for name, evaluation in evaluations.items()}
    timings["scoring"] = time.perf_counter() - start
    text = tables(evaluations)
    (folder / "tables.md").write_text(text)

    start = time.perf_counter()
    # one whole-facade query, one part query, and the query with the most hard images
    hard_counts = [len(g["hard"]) for g in world["gnd"]["gnd"]]
    whole = [q for q, query in enumerate(world["queries"]) if query["region"] == WHOLE_FACADE]
    parts = [q for q in range(len(queries)) if q not in whole]
    chosen = [whole[0], parts[0] if parts else whole[-1]]
    chosen += sorted((q for q in range(len(queries)) if q not in chosen), key=lambda q: -hard_counts[q])
    chosen = chosen[:report_queries]
    from pixret.metric.views import plots  # matplotlib, only when drawing

    method_figures = {}
    for name, evaluation in evaluations.items():  # figures of `pixret evaluate --plots`, per baseline
        (folder / "report" / report.slug(name)).mkdir(parents=True)
        paths = plots.save_all(folder / "report" / report.slug(name), evaluation.results, data.query_names, name,
                               only=("map_vs_threshold", "iou_histograms", "breakdown"))
        method_figures[name] = [(p.stem.replace("_", " "), p.relative_to(folder / "report").as_posix()) for p in paths]
    every = chosen + [q for q in range(len(queries)) if q not in chosen]  # the chosen ones shown, the rest folded
    report.write_report(folder / "report", "pixret demo: top-ranked images per query", queries, index,
                        splits["medium"], {r.name: r.ranks for r in results},
                        {r.name: r.predictions for r in results}, every, k=top_k, method_figures=method_figures,
                        tables=report_tables(evaluations), open_queries=len(chosen))
    timings["report"] = time.perf_counter() - start
    medium = splits["medium"]
    summary = {
        "world": {"queries": len(queries), "index_images": len(index),
                  "positives_medium": int(sum(medium["positive"])),
                  "junk_medium": int(len(medium) - sum(medium["positive"]))},
        "scores": scores, "timings_s": {k: round(v, 2) for k, v in timings.items()},
        "report_queries": chosen,
    }
    (folder / "results.json").write_text(json.dumps(summary, indent=1) + "\n")
    return {**summary, "tables": text, "results": results}


