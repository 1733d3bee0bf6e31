#!/usr/bin/env python
"""The whole project on a small generated benchmark, with no download.

    python tools/demo.py [--output demo_output] [--seed 0] [--small]

1. generates a synthetic pixel-retrieval world in the upstream release layout
   (procedural facades under perspective, scale, lighting, occlusion and clutter);
2. builds it into a dataset folder with tools/build.py, as the real release;
3. runs the reference baselines (oracle, whole image, query-box transfer, a
   Harris + RANSAC matcher; with --with-opencv also OpenCV SIFT + RANSAC);
4. scores them with the pixret_map metric and prints paper-style tables
   (Table 1: mean mIoU; Table 2: mAP@50:5:95 and image mAP), saved as
   Markdown and JSON;
5. writes a visual report (PNG panels + index.html) in the manner of Figure 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != TOOLS]  # tools/evaluate.py is not the package
ROOT = TOOLS.parent
sys.path.insert(0, str(ROOT))

import datasets  # noqa: E402
import evaluate  # noqa: E402
from tqdm import tqdm  # noqa: E402

from pixret import baselines, report  # noqa: E402
from pixret.world import WHOLE_FACADE, WorldConfig, make_world  # noqa: E402

PROTOCOLS = ("medium", "hard")


def _build_tool():
    spec = importlib.util.spec_from_file_location("pixret_tool_build", ROOT / "tools" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score(metric, result, splits) -> dict:
    out = {}
    for protocol in PROTOCOLS:
        split = splits[protocol]
        figures = metric.compute(predictions=result.predictions(split), references=split, ranks=result.ranks)
        out[protocol] = {k: v for k, v in figures.items() if k != "per_query"}
    return out


def tables(scores: dict) -> str:
    def pct(value):
        return "n/a" if value is None else f"{100 * value:.1f}"

    lines = ["Table 1: mean mIoU on ground-truth pairs (%), D = detection, S = segmentation", "",
             "| method | medium D | medium S | hard D | hard S |", "|---|---|---|---|---|"]
    for name, s in scores.items():
        lines.append(f"| {name} | " + " | ".join(pct(s[p][k]) for p in PROTOCOLS for k in ("miou_det", "miou_seg"))
                     + " |")
    lines += ["", "Table 2: pixel retrieval from the database, mAP@50:5:95 (%), and image-level mAP (%)", "",
              "| method | medium det | medium seg | medium image | hard det | hard seg | hard image |",
              "|---|---|---|---|---|---|---|"]
    for name, s in scores.items():
        lines.append(f"| {name} | " + " | ".join(pct(s[p][k]) for p in PROTOCOLS
                                                 for k in ("map_det", "map_seg", "image_map")) + " |")
    lines += ["", "Pixel mAP follows the authors' evaluation: at each IoU threshold, queries with no positive",
              "localised above it leave the mean, so a method that localises a few images well per query can",
              "score high there; read it together with mean mIoU."]
    return "\n".join(lines) + "\n"


def run(output, config: WorldConfig | None = None, report_queries: int = 3, top_k: int = 6,
        with_opencv: bool = False) -> dict:
    config = config or WorldConfig()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    timings = {}
    start = time.perf_counter()
    world = make_world(output / "release", config, progress=tqdm)
    timings["generate"] = time.perf_counter() - start

    start = time.perf_counter()
    dataset_dir = output / "dataset"
    _build_tool().build("proxford", output / "release", dataset_dir, overwrite=True)
    splits = datasets.load_dataset(str(dataset_dir))
    queries = list(datasets.load_dataset(str(dataset_dir), "queries", split="test"))
    index = list(datasets.load_dataset(str(dataset_dir), "index", split="test"))
    timings["build"] = time.perf_counter() - start

    start = time.perf_counter()
    ranking = baselines.global_ranks(queries, index)
    results = [
        baselines.oracle(queries, index, splits["medium"]),
        baselines.whole_image(queries, index, ranking),
        baselines.box_transfer(queries, index, ranking),
        baselines.matcher(queries, index, progress=tqdm, seed=config.seed),
    ]
    if with_opencv:
        results.append(baselines.sift_matcher(queries, index, progress=tqdm))
    timings["baselines"] = time.perf_counter() - start
    results[-1].save(output / "matcher")  # result files for tools/evaluate.py and tools/show.py

    start = time.perf_counter()
    metric = evaluate.load(str(ROOT / "metric" / "pixret_map"), "proxford")
    scores = {r.name: score(metric, r, splits) for r in tqdm(results, desc="scoring")}
    timings["scoring"] = time.perf_counter() - start
    text = tables(scores)
    (output / "tables.md").write_text(text)

    start = time.perf_counter()
    # one whole-facade query, one part query, and the query with the most hard images
    hard_counts = [len(g["hard"]) for g in world["gnd"]["gnd"]]
    whole = [q for q, query in enumerate(world["queries"]) if query["region"] == WHOLE_FACADE]
    parts = [q for q in range(len(queries)) if q not in whole]
    chosen = [whole[0], parts[0] if parts else whole[-1]]
    chosen += sorted((q for q in range(len(queries)) if q not in chosen), key=lambda q: -hard_counts[q])
    chosen = chosen[:report_queries]
    page = report.write_report(output / "report", "pixret demo: top-ranked images per query", queries, index,
                               splits["medium"], {r.name: r.ranks for r in results},
                               {r.name: r.masks for r in results}, chosen, k=top_k)
    timings["report"] = time.perf_counter() - start
    summary = {
        "world": {"queries": len(queries), "index_images": len(index),
                  "positives_medium": int(sum(splits["medium"]["positive"])),
                  "junk_medium": int(len(splits["medium"]) - sum(splits["medium"]["positive"]))},
        "scores": scores, "timings_s": {k: round(v, 2) for k, v in timings.items()},
        "report": str(page), "report_queries": chosen,
    }
    (output / "results.json").write_text(json.dumps(summary, indent=1) + "\n")
    return {**summary, "tables": text, "results": results}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=Path("demo_output"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--small", action="store_true", help="a tiny world (for a quick check)")
    parser.add_argument("--with-opencv", action="store_true",
                        help='add the OpenCV SIFT + RANSAC baseline (pip install -e ".[opencv]")')
    args = parser.parse_args(argv)
    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    config = WorldConfig(seed=args.seed)
    if args.small:
        config = WorldConfig(seed=args.seed, landmarks=2, views_per_landmark=6, background_images=4)
    start = time.perf_counter()
    summary = run(args.output, config, with_opencv=args.with_opencv)
    world = summary["world"]
    print(f"\nworld: {world['queries']} queries, {world['index_images']} index images, "
          f"medium: {world['positives_medium']} positives + {world['junk_medium']} junk\n")
    print(summary["tables"])
    print(f"tables: {args.output / 'tables.md'}, figures: {args.output / 'results.json'}")
    print(f"visual report: {summary['report']}")
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
