"""Pictures of pixel-retrieval results, in the manner of the paper's Figure 1.

For a query: its crop, then its top-k retrieved images, each with the predicted
mask outline (magenta) and the ground-truth outline (yellow), framed by what the
image is for the query. With predictions: green = true positive (a positive whose
predicted mask has IoU above the first threshold, 0.5), red = false positive (a negative, or a positive
with IoU <= 0.5), grey = junk (ignored by the protocol). Without predictions the
frames show retrieval alone: green = positive, red = negative, grey = junk.
A static HTML page links the pictures (and each query's figures, when given). ``tinted`` draws the
pictures of a build's preview config (``pixret.rows``): the ground-truth mask filled and outlined.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pixret import geometry
from pixret import masks as masklib
from pixret.metric.core import polygons, rle
from pixret.metric.core.figures import LOCALISED
from pixret.metric.views import PNG_LEVEL, write_picture

PREDICTION = (255, 0, 255)
GROUND_TRUTH = (255, 230, 0)
TRUE_POSITIVE = (0, 190, 0)
FALSE_POSITIVE = (220, 0, 0)
JUNK = (150, 150, 150)
QUERY = (40, 40, 160)
THUMB = 200  # thumbnail width
FRAME = 5
CAPTION = 15  # caption font size in pixels
CAPTION_HEIGHT = 2 * CAPTION + 8  # two lines
TINT = 0.4  # opacity of a tinted mask


def _font(size: int = CAPTION):
    return ImageFont.load_default(size=size)


def outline(mask: np.ndarray, width: int = 2) -> np.ndarray:
    """Pixels of the mask within ``width`` of its border."""
    mask = mask.astype(bool)
    inner = mask.copy()
    for _ in range(width):
        padded = np.pad(inner, 1)
        inner = (padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1]
                 & padded[1:-1, :-2] & padded[1:-1, 2:])
    return mask & ~inner


def scaled_mask(rle, height: int, width: int, size: tuple[int, int]) -> np.ndarray:
    """The mask of an RLE made for a height x width image, at ``size`` (width, height) by nearest neighbour: what
    an outline or a tint is drawn from on a resized picture. ValueError if the RLE is of another size."""
    mask = masklib.decode(rle)
    if mask.shape != (height, width):
        raise ValueError(f"mask of size {mask.shape} for an image of size {(height, width)}")
    if size == (width, height):
        return mask.astype(bool)
    rows = ((np.arange(size[1]) + 0.5) * height / size[1]).astype(np.intp)  # pixel centres, as PIL's NEAREST
    columns = ((np.arange(size[0]) + 0.5) * width / size[0]).astype(np.intp)
    return mask[np.ix_(rows, columns)].astype(bool)


def overlay(image: Image.Image, predicted, ground_truth, width: int | None = None) -> Image.Image:
    """The image (resized to ``width`` pixels wide) with the ground-truth outline and, over it,
    the predicted outline; outlines are drawn at the output size, so they stay crisp."""
    image = image.convert("RGB")
    size = image.size if width is None else (width, max(1, round(image.height * width / image.width)))
    pixels = np.array(image.resize(size, Image.BILINEAR) if size != image.size else image)
    for rle, colour in ((ground_truth, GROUND_TRUTH), (predicted, PREDICTION)):
        if rle is not None:
            pixels[outline(scaled_mask(rle, image.height, image.width, size), 2)] = colour
    return Image.fromarray(pixels)


def tinted(image: Image.Image, mask: np.ndarray, colour=GROUND_TRUTH, opacity: float = TINT) -> Image.Image:
    """The image with a mask of its size filled with a see-through ``colour`` and outlined in it (the preview
    config's pictures: the region shows even where it is too thin for an outline to show it)."""
    image = image.convert("RGB")
    tint = Image.blend(image, Image.new("RGB", image.size, colour), opacity)
    pixels = np.array(Image.composite(tint, image, Image.fromarray(mask)))
    pixels[outline(mask, 2)] = colour
    return Image.fromarray(pixels)


def fit(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """A (width, height) shrunk to ``longest`` pixels on its longest side, aspect kept (never enlarged)."""
    width, height = size
    scale = min(1.0, longest / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def tile(thumb: Image.Image, frame, lines: list[str]) -> Image.Image:
    """A thumbnail in a coloured frame with a two-line caption under it."""
    tile = Image.new("RGB", (THUMB + 2 * FRAME, thumb.height + 2 * FRAME + CAPTION_HEIGHT), "white")
    draw = ImageDraw.Draw(tile)
    draw.rectangle([0, 0, tile.width - 1, thumb.height + 2 * FRAME - 1], fill=frame)
    tile.paste(thumb, (FRAME, FRAME))
    font = _font()
    for n, line in enumerate(lines[:2]):
        while line and draw.textlength(line, font=font) > tile.width - 4:
            line = line[:-2] + "…"
        draw.text((2, thumb.height + 2 * FRAME + 3 + n * (CAPTION + 3)), line, fill="black", font=font)
    return tile


def row_of(tiles: list[Image.Image], gap: int = 4) -> Image.Image:
    height = max(t.height for t in tiles)
    panel = Image.new("RGB", (sum(t.width for t in tiles) + gap * (len(tiles) - 1), height), "white")
    x = 0
    for t in tiles:
        panel.paste(t, (x, 0))
        x += t.width + gap
    return panel


def query_tile(query: dict) -> Image.Image:
    crop = geometry.query_crop(query["image"], query["bbox"])
    return tile(overlay(crop, None, None, THUMB), QUERY, [f"query {query['query_id']}", query["name"]])


def query_panel(query: dict, ranking, predicted: dict | None, truth: dict, index, k: int = 8):
    """One row: the query crop, then the top-k images. Returns (picture, per-image records).

    ``predicted``: index id -> RLE, polygon (N x 2 points) or None (None for the whole argument: retrieval
    only); a polygon is drawn and scored as its exact fill (the frame's IoU is exact geometry);
    ``truth``: index id -> (positive, RLE or None) for the query's rows of a pairs split;
    ``index``: the index table (rows by id).
    """
    tiles = [query_tile(query)]
    records = []
    for rank, i in enumerate(ranking[:k]):
        i = int(i)
        positive, gt_mask = truth.get(i, (False, None))
        junk = i in truth and not positive
        pred = None if predicted is None else predicted.get(i)
        if isinstance(pred, np.ndarray):  # a polygon (of fewer than 3 points: nothing to fill)
            width, height = index[i]["image"].size
            pred = rle.from_coco(polygons.fill([pred], height, width))
        score = masklib.iou(pred, gt_mask) if positive and pred is not None else 0.0
        if junk:
            status, frame, caption = "junk", JUNK, "junk"
        elif predicted is None:
            status, frame = ("positive", TRUE_POSITIVE) if positive else ("negative", FALSE_POSITIVE)
            caption = status
        elif positive and score > LOCALISED:
            status, frame, caption = "true positive", TRUE_POSITIVE, f"IoU {score:.2f}"
        else:
            status, frame = "false positive", FALSE_POSITIVE
            caption = f"IoU {score:.2f}" if positive else "negative"
        image = overlay(index[i]["image"], pred, gt_mask, THUMB)
        tiles.append(tile(image, frame, [f"#{rank + 1}  id {i}", caption]))
        records.append({"rank": rank + 1, "index_id": i, "status": status, "iou": score})
    return row_of(tiles), records


def truth_by_query(split) -> dict[int, dict]:
    """{query_id: {index_id: (positive, mask)}} of a pairs split."""
    truth: dict[int, dict] = {}
    for q, i, positive, mask in zip(split["query_id"], split["index_id"], split["positive"], split["mask"]):
        truth.setdefault(q, {})[i] = (positive, mask)
    return truth


def preview(queries, index, split, query_ids, per_query: int = 3) -> Image.Image:
    """Rows of a query crop and its first positives with the ground-truth outline (the dataset card's picture)."""
    truth = truth_by_query(split)
    rows = []
    for q in query_ids:
        positives = [(i, mask) for i, (positive, mask) in sorted(truth.get(q, {}).items())
                     if positive and mask is not None][:per_query]
        tiles = [query_tile(queries[q])]
        tiles += [tile(overlay(index[i]["image"], None, mask, THUMB), TRUE_POSITIVE,
                       [f"index {i}", index[i]["name"]]) for i, mask in positives]
        rows.append(row_of(tiles))
    width = max(r.width for r in rows)
    picture = Image.new("RGB", (width, sum(r.height + 6 for r in rows)), "white")
    y = 0
    for r in rows:
        picture.paste(r, (0, y))
        y += r.height + 6
    return picture


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_") or "method"


def _html_table(caption: str, header: list[str], rows: list[list[str]]) -> str:
    """A table with its caption; cells are text (escaped), numbers right-aligned."""
    def cell(tag: str, value) -> str:
        text = str(value)
        numeric = text.replace(".", "", 1).replace("-", "", 1).isdigit()
        return f'<{tag}{" class=num" if numeric and tag == "td" else ""}>{html.escape(text)}</{tag}>'

    body = "".join("<tr>" + "".join(cell("td", v) for v in row) + "</tr>\n" for row in rows)
    return (f"<table><caption>{html.escape(caption)}</caption>\n<thead><tr>"
            + "".join(cell("th", h) for h in header) + f"</tr></thead>\n<tbody>\n{body}</tbody></table>")


def _figure_image(out_dir: Path, caption: str, path: str) -> str:
    """A figure at its own pixel size (a smaller page scales it down): its text shows at the size it was drawn."""
    try:
        with Image.open(out_dir / path) as picture:
            size = f' width="{picture.width}" height="{picture.height}"'
    except OSError:
        size = ""
    return (f'<figure class="plot"><a href="{html.escape(path)}"><img src="{html.escape(path)}"{size} loading="lazy" '
            f'alt="{html.escape(caption)}"></a><figcaption>{html.escape(caption)}</figcaption></figure>')


PAGE_STYLE = ("body{font-family:sans-serif;margin:2em;font-size:16px} img{max-width:100%;height:auto} "
              "figure{margin:1em 0} figure.plot{display:inline-block;margin:0 1em 1em 0;vertical-align:top} "
              "table{border-collapse:collapse;margin:1em 0} caption{text-align:left;font-weight:bold;padding:.3em 0} "
              "th,td{border:1px solid #bbb;padding:.25em .6em} td.num{text-align:right} "
              "details{margin:1em 0} summary{cursor:pointer;font-weight:bold}")


def write_report(out_dir, title: str, queries, index, split, rankings: dict, predictions: dict, query_ids,
                 k: int = 8, progress=None, figures: dict | None = None, method_figures: dict | None = None,
                 tables: list | None = None, open_queries: int | None = None) -> Path:
    """PNG panels and one HTML page for several methods.

    ``rankings[name]``: (num_queries, K) ids; ``predictions[name]``: {(query_id, index_id): {"mask", ...}}
    or None (retrieval only); ``queries`` and ``index``: the tables, indexable by id;
    ``figures``: {query_id: [(caption, file relative to out_dir)]} linked under each query;
    ``method_figures``: {name: [(caption, file)]} shown under each method's heading, each at its own size;
    ``tables``: [(caption, header, rows)] shown first (the figures of the methods);
    ``open_queries``: show this many of ``query_ids`` per method, the others folded (``<details>``; all shown
    when None). Returns the path of index.html.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    truth = truth_by_query(split)
    sections = []
    for name, ranks in rankings.items():
        by_query = None if predictions.get(name) is None else {}
        for (pq, i), p in (predictions.get(name) or {}).items():
            by_query.setdefault(pq, {})[i] = p.get("mask") if p.get("polygon") is None else p["polygon"]
        rows = []
        for q in progress(query_ids, desc=name) if progress else query_ids:
            predicted = None if by_query is None else by_query.get(q, {})
            panel, records = query_panel(queries[q], ranks[q], predicted, truth.get(q, {}), index, k)
            file = f"{slug(name)}_q{q:03d}.png"
            write_picture(out_dir / file, lambda out: panel.save(out, "PNG", compress_level=PNG_LEVEL))
            statuses = [r["status"] for r in records]
            counts = ", ".join(f"{statuses.count(s)} {s}" for s in dict.fromkeys(statuses))
            links = "".join(f' · <a href="{html.escape(path)}">{html.escape(caption)}</a>'
                            for caption, path in (figures or {}).get(q, []))
            rows.append(f'<figure id="{slug(name)}-q{q}"><img src="{file}" width="{panel.width}" '
                        f'height="{panel.height}" loading="lazy" alt="{html.escape(name)} query {q}">'
                        f"<figcaption>query {q} ({html.escape(queries[q]['name'])}): {counts}{links}"
                        "</figcaption></figure>")
        shown = "".join(_figure_image(out_dir, caption, path) for caption, path in (method_figures or {}).get(name, []))
        folded = rows[open_queries:] if open_queries is not None else []
        queries_html = "\n".join(rows[:len(rows) - len(folded)]) + (
            f"\n<details><summary>the other {len(folded)} queries</summary>\n" + "\n".join(folded) + "\n</details>"
            if folded else "")
        sections.append(f"<h2>{html.escape(name)}</h2>\n" + (f"<div>{shown}</div>\n" if shown else "") + queries_html)
    with_predictions = any(predictions.get(name) is not None for name in rankings)
    frames = ((f'<b style="color:rgb{TRUE_POSITIVE}">true positive</b> (positive, IoU &gt; {LOCALISED:g}), '
               f'<b style="color:rgb{FALSE_POSITIVE}">false positive</b> (a negative, or IoU &le; {LOCALISED:g}), ')
              if with_predictions else
              (f'<b style="color:rgb{TRUE_POSITIVE}">positive</b>, <b style="color:rgb{FALSE_POSITIVE}">'
               "negative</b> (retrieval only: no predictions given), "))
    legend = (f'<p>Outlines: <b style="color:rgb{PREDICTION}">prediction</b>, '
              f'<b style="color:rgb{GROUND_TRUTH};background:#444">ground truth</b>. Frames: {frames}'
              f'<b style="color:rgb{JUNK}">junk</b> (ignored by the protocol).</p>')
    summary = "\n".join(_html_table(*table) for table in tables or [])
    page = (f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{PAGE_STYLE}</style></head><body><h1>{html.escape(title)}</h1>\n{summary}\n{legend}\n"
            + "\n".join(sections) + "\n</body></html>\n")
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
