"""Pictures of pixel-retrieval results, in the manner of the paper's Figure 1.

For a query: its crop, then its top-k retrieved images, each with the predicted
mask outline (magenta) and the ground-truth outline (yellow), framed by what the
image is for the query: green = true positive (a positive whose predicted mask has
IoU > 0.5), red = false positive (a negative, or a positive with IoU <= 0.5),
grey = junk (ignored by the protocol). A static HTML page links the pictures.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from pixret import masks as masklib

PREDICTION = (255, 0, 255)
GROUND_TRUTH = (255, 230, 0)
TRUE_POSITIVE = (0, 190, 0)
FALSE_POSITIVE = (220, 0, 0)
JUNK = (150, 150, 150)
THUMB = 200  # thumbnail width
FRAME = 5


def outline(mask: np.ndarray, width: int = 2) -> np.ndarray:
    """Pixels of the mask within ``width`` of its border."""
    mask = mask.astype(bool)
    inner = mask.copy()
    for _ in range(width):
        padded = np.pad(inner, 1)
        inner = (padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1]
                 & padded[1:-1, :-2] & padded[1:-1, 2:])
    return mask & ~inner


def overlay(image: Image.Image, predicted, ground_truth, width: int | None = None) -> Image.Image:
    """The image (resized to ``width`` pixels wide) with the ground-truth outline and, over it,
    the predicted outline; outlines are drawn at the output size, so they stay crisp."""
    image = image.convert("RGB")
    size = image.size if width is None else (width, max(1, round(image.height * width / image.width)))
    pixels = np.array(image.resize(size, Image.BILINEAR) if size != image.size else image)
    for rle, colour in ((ground_truth, GROUND_TRUTH), (predicted, PREDICTION)):
        if rle is not None:
            mask = masklib.decode(rle)
            if mask.shape != (image.height, image.width):
                raise ValueError(f"mask of size {mask.shape} for an image of size {(image.height, image.width)}")
            if size != image.size:
                mask = np.asarray(Image.fromarray(mask * 255).resize(size, Image.NEAREST)) > 0
            pixels[outline(mask, 2)] = colour
    return Image.fromarray(pixels)


def iou(a, b) -> float:
    if a is None or b is None:
        return 0.0
    a, b = masklib.decode(a).astype(bool), masklib.decode(b).astype(bool)
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 0.0


def _tile(thumb: Image.Image, frame, caption: str) -> Image.Image:
    tile = Image.new("RGB", (THUMB + 2 * FRAME, thumb.height + 2 * FRAME + 16), "white")
    ImageDraw.Draw(tile).rectangle([0, 0, tile.width - 1, thumb.height + 2 * FRAME - 1], fill=frame)
    tile.paste(thumb, (FRAME, FRAME))
    ImageDraw.Draw(tile).text((FRAME, thumb.height + 2 * FRAME + 2), caption, fill="black")
    return tile


def query_panel(query: dict, ranking, predicted: dict, truth: dict, index, k: int = 8) -> tuple[Image.Image, list]:
    """One row: the query crop, then the top-k images. Returns (picture, per-image records).

    ``predicted``: index id -> RLE or None; ``truth``: index id -> (positive, RLE or None)
    for the query's rows of a pairs split; ``index``: the index table (rows by id).
    """
    x, y, w, h = query["bbox"]
    crop = query["image"].convert("RGB").crop((int(x), int(y), int(x + w), int(y + h)))
    tiles = [_tile(overlay(crop, None, None, THUMB), (40, 40, 160), f"query {query['query_id']}: {query['name']}"[:34])]
    records = []
    for rank, i in enumerate(ranking[:k]):
        i = int(i)
        positive, gt_mask = truth.get(i, (False, None))
        pred = predicted.get(i)
        score = iou(pred, gt_mask) if positive else 0.0
        if i in truth and not positive:
            status, frame = "junk", JUNK
        elif positive and score > 0.5:
            status, frame = "true positive", TRUE_POSITIVE
        else:
            status, frame = "false positive", FALSE_POSITIVE
        image = overlay(index[i]["image"], pred, gt_mask, THUMB)
        tiles.append(_tile(image, frame, f"#{rank + 1} id {i} IoU {score:.2f}"))
        records.append({"rank": rank + 1, "index_id": i, "status": status, "iou": score})
    height = max(t.height for t in tiles)
    panel = Image.new("RGB", (sum(t.width for t in tiles) + 4 * (len(tiles) - 1), height), "white")
    x = 0
    for tile in tiles:
        panel.paste(tile, (x, 0))
        x += tile.width + 4
    return panel, records


def write_report(out_dir, title: str, queries, index, split, rankings: dict, masks: dict, query_ids, k: int = 8,
                 progress=None):
    """PNG panels and one HTML page for several methods.

    ``rankings[name]``: (num_queries, K) ids; ``masks[name][q]``: index id -> RLE or None
    (a list indexed by id works too); ``queries`` and ``index``: the tables, indexable by id.
    Returns the path of index.html.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    truth: dict[int, dict] = {}
    for q, i, positive, mask in zip(split["query_id"], split["index_id"], split["positive"], split["mask"]):
        truth.setdefault(q, {})[i] = (positive, mask)
    sections = []
    for name, ranks in rankings.items():
        slug = "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")
        rows = []
        for q in progress(query_ids, desc=name) if progress else query_ids:
            predicted = masks[name][q]
            if isinstance(predicted, list):
                predicted = dict(enumerate(predicted))
            panel, records = query_panel(queries[q], ranks[q], predicted, truth.get(q, {}), index, k)
            file = f"{slug}_q{q:03d}.png"
            panel.save(out_dir / file)
            counts = {s: sum(r["status"] == s for r in records) for s in ("true positive", "false positive", "junk")}
            rows.append(f'<figure><img src="{file}" alt="{html.escape(name)} query {q}">'
                        f"<figcaption>query {q} ({html.escape(queries[q]['name'])}): "
                        + ", ".join(f"{v} {s}" for s, v in counts.items()) + "</figcaption></figure>")
        sections.append(f"<h2>{html.escape(name)}</h2>\n" + "\n".join(rows))
    legend = (f'<p>Outlines: <b style="color:rgb{PREDICTION}">prediction</b>, '
              f'<b style="color:rgb{GROUND_TRUTH};background:#444">ground truth</b>. Frames: '
              f'<b style="color:rgb{TRUE_POSITIVE}">true positive</b> (positive, IoU &gt; 0.5), '
              f'<b style="color:rgb{FALSE_POSITIVE}">false positive</b>, '
              f'<b style="color:rgb{JUNK}">junk</b> (ignored).</p>')
    page = (f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:2em} img{max-width:100%} figure{margin:1em 0}</style>"
            f"</head><body><h1>{html.escape(title)}</h1>{legend}\n" + "\n".join(sections) + "\n</body></html>\n")
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
