"""The figures an evaluation gives: their one list, the IoU thresholds, and the typed result of one protocol.

Change the thresholds here and everything follows: pixel mAP, the per-threshold curves, the
error breakdown's cut points and the gallery's true-positive frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

THRESHOLDS = np.arange(50, 100, 5) / 100  # 0.50 ... 0.95, the same floats as the authors' thresh / 100
KAPPAS = (1, 5, 10)  # image-level mP@k
LOCALISED = float(THRESHOLDS[0])  # a retrieved positive counts at some threshold only above this IoU
WELL_LOCALISED = float(THRESHOLDS[len(THRESHOLDS) // 2])  # the breakdown's second cut (0.75)


@dataclass(frozen=True)
class Figure:
    """One figure of an evaluation. Tables, the JSON, the per-query CSV, the bootstrap intervals and the leaderboards
    follow this list: a new figure is an entry here, its attribute on ``Result`` and its computation in scoring."""

    key: str  # in the metric's results and in JSON
    label: str  # in tables
    title: str  # in words (a leaderboard's name for it)
    per_query: str  # its per-query values in result["per_query"]: the per-query CSV's column, the bootstrap's terms
    ranks: bool = True  # made from a ranking: present only when ranks are given
    pixel: bool = False  # pixel mAP: per query one AP per threshold, and the benchmark's ignore list applies
    summation: str = "in order"  # how the metric adds its per-query values up (uncertainty.Terms.point)
    paper_table: int | None = None  # the paper's table that prints it (1 or 2): a headline figure, a leaderboard's


FIGURES = (
    Figure("miou_det", "mIoU D", "mean mIoU (box IoU)", "miou_det", ranks=False, summation="pairwise", paper_table=1),
    Figure("miou_seg", "mIoU S", "mean mIoU (mask IoU)", "miou_seg", ranks=False, summation="pairwise", paper_table=1),
    Figure("map_det", "mAP det", "pixel mAP@50:5:95 (detection IoU)", "ap_det", pixel=True, paper_table=2),
    Figure("map_seg", "mAP seg", "pixel mAP@50:5:95 (mask IoU)", "ap_seg", pixel=True),
    Figure("image_map", "image mAP", "image-level mAP", "image_ap", summation="pairwise over counted"),
    *(Figure(f"image_mp@{k}", f"mP@{k}", f"image-level mean precision at {k}", f"image_p@{k}") for k in KAPPAS),
)
FIGURE_KEYS = tuple(f.key for f in FIGURES)
LABELS = {f.key: f.label for f in FIGURES}
BY_KEY = {f.key: f for f in FIGURES}


def paper_figures(table: int) -> tuple[Figure, ...]:
    """The figures the paper's Table 1 (mean mIoU) or Table 2 (pixel mAP) prints, in the order of FIGURES."""
    return tuple(f for f in FIGURES if f.paper_table == table)


@dataclass(eq=False)
class Result(Mapping):
    """The figures of one protocol. Also a read-only mapping with the metric's keys (``result["map_det"]``,
    ``result["image_mp@5"]``): ``dict(result)`` is what the metric's ``compute`` returns."""

    protocol: str
    official: bool
    miou_det: float
    miou_seg: float | None  # None: a box-only method (no masks), no segmentation figures
    per_query: dict  # lists aligned with per_query["query_id"] (None: no figure for that query)
    per_pair: dict  # lists aligned with the scored positive pairs
    map_det: float | None = None  # with ranks
    map_seg: float | None = None
    image_map: float | None = None
    image_mp: dict[int, float] = field(default_factory=dict)
    per_threshold: dict | None = None  # {"threshold": [...], "map_det": [...], "map_seg": [...]}
    subset: list[int] | None = None  # the queries averaged over, when not all of the benchmark's
    skipped_pairs: int = 0  # official medium mIoU: easy positives without prediction left out, as the authors' code
    oracles: dict | None = None  # with ranks: pixel mAP with a perfect ranking / perfect masks (scoring.oracles)
    kinds: dict | None = None  # scored pairs by what predicts them: {"polygon", "mask", "box", "none": count}

    def _keys(self) -> list[str]:
        keys = ["protocol", "official", *(f.key for f in FIGURES if not f.ranks)]
        if self.per_threshold is not None:
            keys += [*(f.key for f in FIGURES if f.ranks), "per_threshold"]
            if self.oracles is not None:
                keys.append("oracles")
        keys += ["per_query", "per_pair"]
        if self.kinds is not None:
            keys.append("kinds")
        if self.subset is not None:
            keys.append("subset")
        if self.skipped_pairs:
            keys.append("skipped_pairs")
        return keys

    def __getitem__(self, key: str):
        if key not in self._keys():
            raise KeyError(key)
        if key.startswith("image_mp@"):
            return self.image_mp[int(key.split("@")[1])]
        return getattr(self, key)

    def __iter__(self):
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    @property
    def with_ranks(self) -> bool:
        return self.per_threshold is not None

    def figures(self) -> dict:
        """The scalar figures present ({key: value or None}), in the order of FIGURES."""
        return {key: self.get(key) for key in FIGURE_KEYS if key in self}


def nan_to_none(values):
    """Arrays -> lists with nan (no figure for that query) as None, so results serialise as JSON."""
    if values is None or isinstance(values, list):
        return values
    return np.where(np.isnan(values), None, values).tolist()
