"""The pixret_map evaluate module: mean mIoU and pixel-retrieval mAP@50:5:95 for PROxford / PRParis.

``metric/pixret_map/pixret_map.py`` (what ``evaluate.load("pixret/pixret_map")`` loads) and
``pixret.load_metric`` are this class; its card is ``metric/pixret_map/README.md``.

Official mode (the default) gives the figures of the evaluation code the benchmark's
authors released (An et al., ICCV 2023), end to end on polygon predictions (their IoU
procedure, quirks included) and in the aggregation for every kind of prediction; see
the card for what differs where. The work is done by plain functions of
``pixret.metric.core`` (``scoring``: the figures; ``rle``: masks; ``benchmarks``:
what the benchmarks are), which also run without ``evaluate``.

One ``compute(predictions=..., references=..., ...)`` call is scored in memory:
no cache file, no lock shared with other processes. ``add`` / ``add_batch`` and
distributed evaluation store the rows through evaluate's public API first.
"""

from __future__ import annotations

import os

import datasets
import evaluate
import numpy as np

from .core.authors_iou import LIMIT
from .core.benchmarks import BENCHMARKS, CITATION, CUSTOM
from .core.errors import InputError
from .core.figures import FIGURES, THRESHOLDS
from .core.predictions import Where, as_rows, parse_prediction
from .core.references import int_column
from .core.rle import RLEError, from_coco, rle_feature, to_coco
from .core.scoring import evaluate_pixel_retrieval

_DESCRIPTION = """\
Pixel retrieval metrics of the PROxford and PRParis benchmarks: mean mIoU of the
predicted localisation on ground-truth (query, positive) pairs, with detection (box)
and segmentation (mask) IoU, and, given rankings of the database, pixel-retrieval
mAP@50:5:95 (a retrieved positive counts at threshold t only if its IoU > t) plus
revisitop's image-level mAP and mP@1/5/10. The default (official) equals the authors'
released scripts: end to end on polygon predictions (their IoU procedure), and in the
aggregation for masks and boxes (scored exactly against the ground-truth mask);
`official=False` gives exact geometry and the corrected aggregation described in the card.
Configs: "proxford", "prparis" (the benchmarks; the references must be theirs) and
"custom" (data in the same format that is not one of them, e.g. the pixret demo world).
"""

_KWARGS_DESCRIPTION = f"""
Args:
    predictions: one per reference row (None = no localisation), a dict with `mask` (COCO RLE
        {{"size": [h, w], "counts": str}}; `segmentation` is accepted as its COCO alias) and/or
        `bbox` ([x, y, w, h]: detection IoU then uses it), or `polygon` ([[x, y], ...], one contour,
        points within +-{LIMIT} px: the authors' kind of region), optionally `query_id` / `index_id`
        (checked against the row) and `score` (ignored). Any other key is an error.
    references: one protocol split of the dataset's `pairs` config (a Dataset or its row dicts),
        whole: every query of the benchmark with all its rows.
    ranks: optional (num_queries, K) integer array-like; row q = index ids for query q, best first.
        Not copied.
    distractors: how many distractor ids follow the index in `ranks` (R1M: 1001001); without it
        an id past the index is an error (ids are 0-based).
    queries: optional list of query ids to average over (the references must hold exactly these).
    official: True (default) reproduces the authors' scripts (polygons: their IoU procedure on the
        references' `shapes`); False: exact geometry and the corrections listed in the card.
    index_size, num_queries: for config "custom" (the benchmarks know theirs).
Returns:
    {", ".join(f.key for f in FIGURES if not f.ranks)}; with ranks also {", ".join(f.key for f in FIGURES if f.ranks)}
    (fractions in [0, 1], not percent; None where unavailable), per_threshold (mAP at {THRESHOLDS[0]:.2f} ...
    {THRESHOLDS[-1]:.2f}), per_query (lists aligned with per_query["query_id"]), for a subset subset, and
    unit: "fraction" (tables and leaderboards print percent).
Examples:
    >>> metric = evaluate.load("pixret/pixret_map", "proxford")
    >>> results = metric.compute(predictions=preds, references=pairs["medium"], ranks=ranks)
    >>> results["map_det"]  # the paper's Table 2 figure
"""

# Stored form of the rows (add / add_batch / distributed): flat, no nulls, so evaluate's
# row encoding accepts every row; an empty size means "no mask", an empty bbox "no box".
_MASK = rle_feature()
_STORED = datasets.Features({
    "predictions": {
        "query_id": datasets.Value("int64"),  # -1: not given
        "index_id": datasets.Value("int64"),
        "mask_size": _MASK["size"],
        "mask_counts": _MASK["counts"],
        "bbox": datasets.List(datasets.Value("float64")),
        "polygon": datasets.List(datasets.List(datasets.Value("float64"))),  # []: no polygon
    },
    "references": {
        "query_id": datasets.Value("int64"),
        "index_id": datasets.Value("int64"),
        "query_name": datasets.Value("string"),
        "difficulty": datasets.Value("string"),
        "positive": datasets.Value("bool"),
        "mask_size": _MASK["size"],
        "mask_counts": _MASK["counts"],
        "shapes": datasets.List({"shape_type": datasets.Value("string"),  # "": none given
                                 "points": datasets.List(datasets.List(datasets.Value("float64")))}),  # []: none
    },
})
_REFERENCE_KEYS = ("query_id", "index_id", "difficulty", "positive", "mask")
_OPTIONS = ("ranks", "distractors", "queries", "official", "index_size", "num_queries")


def _score(predictions, references, benchmark: str, options: dict) -> dict:
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise InputError(f"unknown argument {unknown[0]!r}; compute takes predictions, references and "
                         f"{', '.join(_OPTIONS)}")
    return {**evaluate_pixel_retrieval(predictions, references, benchmark=benchmark, **options), "unit": "fraction"}


def _store_mask(mask, where: Where):
    if mask is None:
        return [], ""
    try:
        stored = from_coco(to_coco(mask))  # size and counts as the checks will read them
    except RLEError as err:
        raise InputError(f"{where}: mask: {err}") from None
    return stored["size"], stored["counts"]


def _stored_mask(size, counts):
    return {"size": size, "counts": counts} if size else None


def _store_prediction(value, r: int) -> dict:
    """A prediction as stored: read by the one parser, as compute reads it."""
    where = Where(f"predictions row {r} of this batch")
    prediction = parse_prediction(value, where)
    size, counts = _store_mask(prediction.mask, where)
    return {"query_id": -1 if prediction.query_id is None else prediction.query_id,
            "index_id": -1 if prediction.index_id is None else prediction.index_id,
            "mask_size": size, "mask_counts": counts, "bbox": prediction.bbox or [],
            "polygon": [] if prediction.polygon is None else prediction.polygon.tolist()}


def _store_reference(ref, r: int) -> dict:
    where = Where(f"references row {r} of this batch")
    if not isinstance(ref, dict) or any(k not in ref for k in _REFERENCE_KEYS):
        raise InputError(f"{where}: expected a row of the dataset's pairs config with {list(_REFERENCE_KEYS)}")
    if not isinstance(ref["positive"], (bool, np.bool_)):
        raise InputError(f"{where}: positive must be true or false, got {ref['positive']!r}")
    if not isinstance(ref["difficulty"], str):
        raise InputError(f"{where}: difficulty must be easy, hard or junk, got {ref['difficulty']!r}")
    ids = int_column([ref["query_id"], ref["index_id"]], "query_id / index_id", f"references row {r} of this batch,")
    if (ids < 0).any():
        raise InputError(f"{where}: query_id and index_id must be non-negative, got {ids.tolist()}")
    size, counts = _store_mask(ref["mask"], where)
    shapes = ref.get("shapes") or []
    if not isinstance(shapes, (list, tuple)) or not all(isinstance(shape, dict) for shape in shapes):
        raise InputError(f"{where}: shapes must be a list of {{shape_type, points}} (or None)")
    return {"query_id": int(ids[0]), "index_id": int(ids[1]), "query_name": str(ref.get("query_name", "")),
            "difficulty": ref["difficulty"], "positive": ref["positive"], "mask_size": size, "mask_counts": counts,
            "shapes": [{"shape_type": shape.get("shape_type") or "", "points": shape.get("points")} for shape in shapes]}


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class PixretMap(evaluate.Metric):
    """config_name "proxford", "prparis" or "custom": which benchmark the references are."""

    def _info(self):
        if self.config_name not in (*BENCHMARKS, CUSTOM):
            raise InputError(f"config_name must be one of {[*BENCHMARKS, CUSTOM]}, got {self.config_name!r} "
                             "(the benchmark is never guessed: name it)")
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=_STORED,
            reference_urls=["https://github.com/anguoyuan/Pixel_retrieval-Segmented_instance_retrieval",
                            "https://github.com/filipradenovic/revisitop"],
        )

    def _build_data_dir(self):
        """evaluate's folder for this module's stored rows, created only when rows are stored (add_batch):
        one compute(predictions=..., references=...) call writes nothing, also under a read-only cache."""
        return os.path.join(self._data_dir_root, self.name, self.config_name)

    def compute(self, *args, predictions=None, references=None, **kwargs):
        """Score the predictions (see the module's inputs description); one call is scored in memory."""
        if args:
            raise InputError("compute takes keyword arguments: compute(predictions=..., references=..., ranks=...)")
        if (predictions is None) != (references is None):
            raise InputError("compute needs both predictions and references (or neither, after add_batch)")
        if predictions is not None and self.writer is not None:  # rows stored since the last compute: no merge
            raise InputError(f"compute(predictions=..., references=...) after add / add_batch, with {len(self)} rows "
                             "stored: both sets would be scored as one. Score the stored rows with compute(), or "
                             "these with a metric that stored none (pixret.load_metric)")
        if predictions is not None and self.num_process == 1 and len(self) == 0:
            return _score(predictions, references, self.config_name, kwargs)
        if predictions is None and self.writer is None:  # nothing stored in this process
            raise InputError("nothing to score: pass compute(predictions=..., references=...), or add_batch first "
                             "(each compute() scores the rows added since the last one)")
        return super().compute(predictions=predictions, references=references, **kwargs)

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Add a batch of predictions and the reference rows they align with."""
        if kwargs:
            raise InputError(f"unknown inputs {sorted(kwargs)}: add_batch takes predictions and references")
        if predictions is None or references is None:
            raise InputError("add_batch needs both predictions and references")
        try:
            os.makedirs(self.data_dir, exist_ok=True)
        except OSError as err:
            raise OSError(f"cannot store the rows in evaluate's cache folder {self.data_dir} ({err.strerror or err}): "
                          "pass cache_dir= to a writable folder, or score in one call with "
                          "compute(predictions=..., references=...)") from None
        references = as_rows(references, "references")
        references = references.to_list() if hasattr(references, "to_list") else references
        predictions = as_rows(predictions, "predictions")
        if len(predictions) != len(references):
            raise InputError(f"{len(predictions)} predictions for {len(references)} references: they must align 1:1")
        return super().add_batch(predictions=[_store_prediction(p, r) for r, p in enumerate(predictions)],
                                 references=[_store_reference(ref, r) for r, ref in enumerate(references)])

    def add(self, *, prediction=None, reference=None, **kwargs):
        """Add one prediction and its reference row."""
        return self.add_batch(predictions=[prediction], references=[reference], **kwargs)

    def _compute(self, predictions, references, **kwargs):
        """The rows stored by add / add_batch, back in the public form."""
        predictions = [{**{k: p[k] for k in ("query_id", "index_id") if p[k] >= 0},
                        "mask": _stored_mask(p["mask_size"], p["mask_counts"]), "bbox": p["bbox"] or None,
                        "polygon": p["polygon"] or None} for p in predictions]
        references = [{**{k: ref[k] for k in ("query_id", "index_id", "difficulty", "positive")},
                       **({"query_name": ref["query_name"]} if ref["query_name"] else {}),
                       "mask": _stored_mask(ref["mask_size"], ref["mask_counts"]),
                       "shapes": [{"shape_type": shape["shape_type"] or None, "points": shape["points"]}
                                  for shape in ref["shapes"]] or None} for ref in references]
        return _score(predictions, references, self.config_name, kwargs)
