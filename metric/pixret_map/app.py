"""The pixret_map Space: score a method's result files on PROxford / PRParis, next to the paper.

Upload predictions (COCO-results JSON or Parquet, as ``pixret evaluate`` reads them) and,
for pixel mAP, a ranks ``.npy``; pick the benchmark. The ground truth is
``load_dataset("pixret/<benchmark>")`` (it honours HF_ENDPOINT; PIXRET_DATASETS moves the
namespace, e.g. to a local folder of built datasets in tests).

API (gradio_client): ``/evaluate`` takes (predictions file, ranks file or None, benchmark)
and an optional ``r1m`` (the ranks include the 1,001,001 R1M distractors); it returns the
JSON of ``pixret evaluate --format json``: ``"unit": "fraction"`` (figures in [0, 1]; the page's
tables and the leaderboard files are in percent), the figures per protocol, and the
``"warnings"`` and ``"notes"`` of the evaluation (boxes that look like another convention, ids
that look 1-based, ...), which the page lists under its table.

It runs pixret, installed from requirements.txt (from PyPI; until pixret is published there, the wheel
``pixret push metric`` uploads beside this file): the ground truth is opened and the files scored by
``pixret.evaluation.evaluate_files``, as ``pixret evaluate`` does.
"""

from __future__ import annotations

import inspect
import io
import os
import warnings
from functools import lru_cache

import gradio as gr
from PIL import Image

from pixret.dataset import BuiltDataset, open_dataset
from pixret.evaluation import evaluate_files
from pixret.metric.core.benchmarks import BENCHMARKS, R1M_DISTRACTORS
from pixret.metric.core.errors import InputError
from pixret.metric.evaluation import ShiftedIds
from pixret.metric.views import analysis, plots, tables

NAMESPACE = os.environ.get("PIXRET_DATASETS", "pixret")  # a Hub namespace, or a folder of built datasets


def dataset_spec(benchmark: str) -> str:
    """Where ``benchmark``'s built dataset is: ``<folder>/<benchmark>`` or the Hub id ``<namespace>/<benchmark>``."""
    if os.path.isdir(NAMESPACE):
        return os.path.join(NAMESPACE, benchmark)
    return f"{NAMESPACE.rstrip('/')}/{benchmark}"


@lru_cache(maxsize=4)
def ground_truth(benchmark: str) -> BuiltDataset:
    """The built dataset of ``benchmark``, opened once (``pixret.dataset``: a folder or a Hub id)."""
    return open_dataset(dataset_spec(benchmark))


def _path(upload):
    return None if upload is None else upload if isinstance(upload, str) else getattr(upload, "name", str(upload))


def score(predictions_file, ranks_file, benchmark: str, r1m: bool = False):
    """(the Evaluation, its warnings) of the uploaded files; every problem is one message on the page."""
    if benchmark not in BENCHMARKS:
        raise gr.Error(f"unknown benchmark {benchmark!r}; expected one of {sorted(BENCHMARKS)}", print_exception=False)
    if _path(predictions_file) is None:
        raise gr.Error("upload a predictions file (.json or .parquet, or the authors' .npy)", print_exception=False)
    try:
        truth = ground_truth(benchmark)
    except Exception as err:  # noqa: BLE001 - no Hub, no such dataset: the page says so
        raise gr.Error(f"cannot load the ground truth {dataset_spec(benchmark)}: {str(err).splitlines()[0]}",
                       print_exception=False) from None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            evaluation = evaluate_files(truth, _path(predictions_file), _path(ranks_file),
                                        distractors=R1M_DISTRACTORS if r1m else 0, name="your method",
                                        sources={"predictions": "predictions", "ranks": "ranks"}, progress=None)
        except ShiftedIds as err:  # (the page has no override: the command line has)
            raise gr.Error(f"predictions: {err.finding}: the ids look 1-based (they are 0-based: revisitop's "
                           "positions), and figures of them would be nonsense; subtract 1 (pixret evaluate "
                           "--trust-ids scores ids you know are right)", print_exception=False) from None
        except InputError as err:  # the user's files: the message names the file, the entry and the pair
            raise gr.Error(str(err), print_exception=False) from None
    return evaluation, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def evaluate_json(predictions_file, ranks_file, benchmark: str, r1m: bool = False) -> dict:
    """The API: the JSON of ``pixret evaluate --format json`` (fractions, with the evaluation's warnings)."""
    evaluation, caught = score(predictions_file, ranks_file, benchmark, r1m)
    return evaluation.document(evaluation.intervals(), caught)


def evaluate_page(predictions_file, ranks_file, benchmark: str, r1m: bool = False):
    evaluation, caught = score(predictions_file, ranks_file, benchmark, r1m)
    results, intervals = evaluation.results, evaluation.intervals()
    with_ranks = all(r.with_ranks for r in results.values())
    parts = [tables.results_table(results, "markdown", intervals)]
    if evaluation.benchmark != benchmark:
        parts.insert(0, f"> **Note**: the dataset at `{dataset_spec(benchmark)}` is not the real "
                        f"{BENCHMARKS[benchmark].pretty_name} (its queries are not revisitop's): figures are for "
                        "that data.")
    if caught or evaluation.notes:
        parts.append("\n".join([f"- warning: {message}" for message in caught]
                               + [f"- note: {note}" for note in evaluation.notes]))
    if with_ranks:
        parts.append(f"Error breakdown of the positives (retrieved = in the top {analysis.TOP_K}):\n\n"
                     + tables.breakdown_table(analysis.breakdowns(results), "markdown"))
        parts.append("Which half costs the most: pixel mAP (%) with one half made perfect (the other as it is):\n\n"
                     + tables.oracle_table(results, "markdown"))
    reason = evaluation.not_comparable
    parts.append(tables.compare(benchmark, results, "your method", 1, not_comparable=reason).render("markdown"))
    if with_ranks:
        parts.append(tables.compare(benchmark, results, "your method", 2, r1m=r1m, not_comparable=reason)
                     .render("markdown"))
    shown = [(_image(make()), caption) for _, caption, make in plots.figures(results, evaluation.truth.query_names)]
    return evaluation.document(intervals, caught), "\n\n".join(parts), shown


def _image(figure) -> Image.Image:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    buffer.seek(0)
    return Image.open(buffer)


# Gradio sets overflow-wrap: anywhere on Markdown, which breaks table headers mid-word ("protoco|l"): cells wrap
# between words only, and a table wider than the column scrolls
CSS = """
.pixret-report table { display: block; overflow-x: auto; }
.pixret-report th, .pixret-report td { overflow-wrap: normal !important; word-break: normal !important; }
"""


def _css(function) -> dict:
    """``css=CSS`` for the one of gr.Blocks (gradio 5) and launch (gradio 6) that takes it."""
    return {"css": CSS} if "css" in inspect.signature(function).parameters else {}


with gr.Blocks(title="pixret_map: PROxford / PRParis", **_css(gr.Blocks.__init__)) as demo:
    gr.Markdown("# pixret_map: pixel retrieval on PROxford / PRParis\n"
                "Mean mIoU (the paper's Table 1) and pixel-retrieval mAP@50:5:95 (Table 2): the figures of the "
                "authors' released evaluation on polygon results, end to end (the card says what differs for masks "
                "and boxes). Predictions: a JSON list (or Parquet) of `{query_id, index_id, segmentation (COCO "
                "RLE) and/or bbox [x, y, w, h]}` or `{query_id, index_id, polygon [[x, y], ...]}`, or the authors' "
                "matching result `.npy`; ranks: a `.npy` of index ids, "
                "(70, K) or revisitop's (K, 70). Figures: the tables are in percent, as the paper's; the JSON (and the "
                "`/evaluate` API) gives fractions in [0, 1], with `\"unit\": \"fraction\"` and the warnings.")
    with gr.Row():
        with gr.Column(scale=1):
            predictions = gr.File(label="Predictions (.json or .parquet; the authors' matching result .npy)",
                                  file_types=[".json", ".parquet", ".npy"], type="filepath")
            ranks = gr.File(label="Ranks (.npy, optional)", file_types=[".npy"], type="filepath")
            benchmark = gr.Dropdown(sorted(BENCHMARKS), value="proxford", label="Benchmark")
            r1m = gr.Checkbox(False, label=f"ranks include the R1M distractors ({R1M_DISTRACTORS:,})")
            button = gr.Button("Evaluate", variant="primary")
        with gr.Column(scale=2):
            figures_json = gr.JSON(label="Figures as fractions in [0, 1] (the JSON of pixret evaluate --format json)")
            report = gr.Markdown(elem_classes=["pixret-report"])
            gallery = gr.Gallery(label="Plots", columns=2, height="auto", object_fit="contain")
    button.click(evaluate_page, inputs=[predictions, ranks, benchmark, r1m], outputs=[figures_json, report, gallery],
                 api_name="evaluate_page")
    gr.on(triggers=[], fn=evaluate_json, inputs=[predictions, ranks, benchmark, r1m], outputs=[figures_json],
          api_name="evaluate")


if __name__ == "__main__":
    demo.launch(**_css(demo.launch))
