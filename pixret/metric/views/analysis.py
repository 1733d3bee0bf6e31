"""What a method gets wrong, from the results of an evaluation (numbers; ``plots.py`` draws them).

Error breakdown, in the spirit of COCO's ``analyze()`` but for pixel retrieval: each
scored positive pair is either not retrieved in the top K, or retrieved but not
localised (IoU <= 0.5, the first threshold, so it counts at no threshold), or localised with
0.5 < IoU <= 0.75 (the middle threshold), or with IoU > 0.75 (the metric's strict "IoU > t"
rule; the cut points come from ``figures.THRESHOLDS``); and, per
query, how many negatives rank above its median retrieved positive. Positions are
revisitop's: 0-based, with the junk ranked before them removed.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import InputError
from ..core.figures import LOCALISED, WELL_LOCALISED

CATEGORIES = ("not retrieved", f"IoU <= {LOCALISED:g}", f"{LOCALISED:g} < IoU <= {WELL_LOCALISED:g}",
              f"IoU > {WELL_LOCALISED:g}")
TOP_K = 100  # "retrieved" in the breakdowns the tools and the Space show


def _pairs(result: dict) -> dict:
    per_pair = result.get("per_pair")
    if not per_pair or "position" not in per_pair:
        raise InputError("the error breakdown needs results computed with ranks")
    return {k: np.asarray(v) for k, v in per_pair.items() if v is not None}


def breakdown(result: dict, k: int = 100, iou: str = "seg") -> dict:
    """{category: count} of the scored positives, plus negatives above the median positive.

    ``iou``: "seg" (mask IoU) or "det" (box IoU, the paper's Table 2); ``k``: the top K.
    """
    pairs = _pairs(result)
    key = f"iou_{iou}"
    if key not in pairs:
        raise InputError(f"no {iou} IoUs in these results (a box-only method has no segmentation)")
    values, positions = pairs[key], pairs["position"]
    retrieved = (positions >= 0) & (positions < k)
    counts = {CATEGORIES[0]: int((~retrieved).sum()),
              CATEGORIES[1]: int((retrieved & (values <= LOCALISED)).sum()),
              CATEGORIES[2]: int((retrieved & (values > LOCALISED) & (values <= WELL_LOCALISED)).sum()),
              CATEGORIES[3]: int((retrieved & (values > WELL_LOCALISED)).sum())}
    counts["negatives above the median positive"] = int(sum(
        negatives_above_median(positions[pairs["query_id"] == q]) for q in np.unique(pairs["query_id"])))
    return counts


def breakdowns(results: dict, k: int = TOP_K) -> dict:
    """{"<protocol> <det|seg>": breakdown} of {protocol: results}, for each IoU the results have."""
    return {f"{protocol} {iou}": breakdown(result, k, iou) for protocol, result in results.items()
            for iou in ("det", "seg") if result["per_pair"].get(f"iou_{iou}") is not None}


def negatives_above_median(positions: np.ndarray) -> int:
    """Negatives ranked above the median retrieved positive of one query.

    With the j-th retrieved positive (sorted, 0-based) at junk-adjusted position p, exactly
    p - j negatives rank above it.
    """
    ranked = np.sort(positions[positions >= 0])
    if not ranked.size:
        return 0
    j = (ranked.size - 1) // 2
    return int(ranked[j] - j)


def precision_recall(positions: np.ndarray, num_positives: int) -> tuple[np.ndarray, np.ndarray]:
    """Image-level precision and recall at each retrieved positive of one query."""
    ranked = np.sort(positions[positions >= 0])
    hits = np.arange(1, ranked.size + 1)
    return hits / (ranked + 1), hits / max(num_positives, 1)


def worst_queries(result: dict, count: int = 4, key: str = "image_ap") -> list[int]:
    """Positions (in per_query order) of the queries with the lowest figure ``key``."""
    values = np.asarray([np.nan if v is None else v for v in result["per_query"][key]], float)
    order = np.argsort(np.where(np.isnan(values), np.inf, values), kind="stable")
    return [int(k) for k in order[:count] if not np.isnan(values[k])]
