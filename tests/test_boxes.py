"""Boxes in another convention than [x, y, w, h] in pixels (corners, centres, rows first, normalised, rescaled):
scored as given, with a warning naming the convention they look like (pixret.metric.core.boxes)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pycocotools import mask as cocomask

from pixret.metric.core.rle import to_coco


def _messages(caught) -> str:
    return "\n".join(str(w.message) for w in caught)


def _caught(function) -> str:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        function()
    return "\n".join(str(w.message) for w in caught)


CONVERT = {  # from the true [x, y, w, h] in pixels (W, H: image width, height) to each convention
    "[x1, y1, x2, y2]": lambda x, y, w, h, W, H: [x, y, x + w, y + h],
    "[cx, cy, w, h] (box centres)": lambda x, y, w, h, W, H: [x + w / 2, y + h / 2, w, h],
    "[y, x, h, w] (rows first)": lambda x, y, w, h, W, H: [y, x, h, w],
    "[y1, x1, y2, x2]": lambda x, y, w, h, W, H: [y, x, y + h, x + w],
    "[x, y, w, h] normalised to [0, 1]": lambda x, y, w, h, W, H: [x / W, y / H, w / W, h / H],
    "[cx, cy, w, h] normalised to [0, 1] (DETR / OWL-ViT output)":
        lambda x, y, w, h, W, H: [(x + w / 2) / W, (y + h / 2) / H, w / W, h / H],
    "[x1, y1, x2, y2] normalised to [0, 1]": lambda x, y, w, h, W, H: [x / W, y / H, (x + w) / W, (y + h) / H],
    "[y1, x1, y2, x2] normalised to [0, 1] (TensorFlow object detection)":
        lambda x, y, w, h, W, H: [y / H, x / W, (y + h) / H, (x + w) / W],
}


def _boxes(split, convert):
    out = []
    for row in split:
        if not row["positive"]:
            out.append(None)
            continue
        height, width = row["mask"]["size"]
        x, y, w, h = (float(v) for v in cocomask.toBbox(to_coco(row["mask"])))
        out.append({"bbox": convert(x, y, w, h, width, height)})
    return out


@pytest.mark.parametrize("convention", list(CONVERT))
def test_boxes_in_another_convention_are_named(splits, custom_metric, convention):
    split = splits["medium"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = custom_metric.compute(predictions=_boxes(split, CONVERT[convention]), references=split)
    assert f"the bboxes look like {convention}, not [x, y, w, h] in pixels" in _messages(caught)
    assert result["miou_det"] < 0.9  # scored as given: the warning is the only sign


def test_right_boxes_get_no_convention_warning(splits, custom_metric):
    split = splits["medium"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = custom_metric.compute(predictions=_boxes(split, lambda x, y, w, h, W, H: [x, y, w, h]),
                                       references=split)
    assert "look like" not in _messages(caught) and result["miou_det"] == pytest.approx(1.0)


def test_one_odd_box_does_not_hide_corners(splits, custom_metric):
    """A large majority decides: one box overshooting its image by 3 px and one degenerate one among corners."""
    split = splits["medium"]
    preds = _boxes(split, CONVERT["[x1, y1, x2, y2]"])
    given = [k for k, p in enumerate(preds) if p]
    preds[given[0]] = {"bbox": [60.0, 40.0, 67.0, 51.0]}  # past the 64 x 48 image by 3 px
    preds[given[1]] = {"bbox": [5.0, 5.0, 5.0, 9.0]}  # zero width
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        custom_metric.compute(predictions=preds, references=split)
    assert "the bboxes look like [x1, y1, x2, y2]" in _messages(caught)


def test_normalised_boxes_of_a_useless_method_are_still_named(splits, custom_metric):
    rng = np.random.default_rng(0)
    split = splits["medium"]
    preds = [{"bbox": rng.uniform(0, 0.2, 4).tolist()} if r["positive"] else None for r in split]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        custom_metric.compute(predictions=preds, references=split)
    assert "the bboxes look normalised to [0, 1]" in _messages(caught)


def _true_boxes(split):
    from pycocotools import mask as cocomask

    from pixret.metric.core.rle import to_coco

    return [None if not r["positive"] else [float(v) for v in cocomask.toBbox(to_coco(r["mask"]))] for r in split]


def test_detr_boxes_with_whole_image_fallbacks_are_named(medium, custom_metric):
    """DETR's normalised centres, with one box in eight the whole image in pixels: a pattern, still named."""
    preds = []
    for k, box in enumerate(_true_boxes(medium)):
        if box is None:
            preds.append(None)
            continue
        x, y, w, h = box
        preds.append({"bbox": [0.0, 0.0, 64.0, 48.0] if k % 8 == 0 else [(x + w / 2) / 64, (y + h / 2) / 48, w / 64,
                                                                          h / 48]})
    text = _caught(lambda: custom_metric.compute(predictions=preds, references=medium))
    assert "the bboxes look like [cx, cy, w, h] normalised to [0, 1] (DETR / OWL-ViT output)" in text


def test_boxes_at_another_scale_are_named(medium, custom_metric):
    preds = [None if box is None else {"bbox": [v * 0.5 for v in box]} for box in _true_boxes(medium)]
    text = _caught(lambda: custom_metric.compute(predictions=preds, references=medium))
    assert "the bboxes look scaled by 0.5 x 0.5 (made on images resized by that much?)" in text
