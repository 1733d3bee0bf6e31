"""The preview config: what the Hub's dataset viewer shows of a build (it renders Image columns, not RLE). A real
build of a release made for looking at pixels: flat grey index images (a tint shows as colour), query images black
but for a white bbx, big labels; loaded with ``datasets``, its Parquet read as the viewer reads it."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset
from huggingface_hub import DatasetCard
from PIL import Image

from pixret import rows, synthetic
from pixret.build import build
from pixret.cli import main
from pixret.dataset import open_dataset
from pixret.masks import decode

HEIGHT, WIDTH = 300, 400
GREY = 128
ROTATED = 5  # an index image stored on its side with EXIF orientation 6, as phones write them
UNLABELLED = (3, 2)  # a positive without a label (null mask)
# The dataset viewer refuses to read more than 300 MB of row groups for a page of rows ("Rows from parquet row groups
# are too big to be read ... (max=286.10 MiB)": huggingface/dataset-viewer, ROWS_INDEX_MAX_ARROW_DATA_IN_MEMORY).
VIEWER_MAX_ROW_GROUP_BYTES = 300_000_000


def _gnd() -> dict:
    """Queries with many positives of both kinds, of one kind, few; 16 queries: more preview rows than a row group."""
    lists = [(range(0, 7), range(7, 12)), (range(0, 10), ()), ([3], range(4, 16)), ([1, 2], [5])]
    lists += [(range(k, k + 8), [16 + k % 4, 20]) for k in range(12)]
    bbx = [[10, 20, 360, 140]] + [[5, 5, 65, 45]] * 15  # 350 x 120 (shrunk in the preview), 60 x 40 (kept)
    return {"imlist": [f"index_{i:03d}" for i in range(24)], "qimlist": [f"query_{q:03d}" for q in range(16)],
            "gnd": [{"easy": list(easy), "hard": list(hard), "junk": [23], "bbx": box}
                    for (easy, hard), box in zip(lists, bbx)]}


def _write_release(root) -> dict:
    gnd = _gnd()
    for i, name in enumerate(gnd["imlist"]):
        shape = (WIDTH, HEIGHT, 3) if i == ROTATED else (HEIGHT, WIDTH, 3)  # displayed as WIDTH x HEIGHT either way
        synthetic.write_jpeg(root, "proxford", name, np.full(shape, GREY), orientation=6 if i == ROTATED else None)
    for q, name in enumerate(gnd["qimlist"]):
        x1, y1, x2, y2 = gnd["gnd"][q]["bbx"]
        pixels = np.zeros((HEIGHT, WIDTH, 3))
        pixels[y1:y2, x1:x2] = 255
        synthetic.write_jpeg(root, "proxford", name, pixels)
    labels = {}
    for q, entry in enumerate(gnd["gnd"]):
        for i in entry["easy"] + entry["hard"]:
            if (q, i) != UNLABELLED:
                labels[q, i] = f"labels/q{q}/{gnd['imlist'][i]}.json"
                outline = [[60 + 5 * i, 40], [340, 60 + 3 * q], [300, 260], [80, 220]]
                synthetic.write_label(root, labels[q, i], [np.array(outline, float)], HEIGHT, WIDTH)
    synthetic.write_gnd(root, "proxford", gnd)
    synthetic.write_pair2label(root, "proxford", labels)
    return gnd


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("preview")
    gnd = _write_release(base / "release")
    build("proxford", base / "release", base / "out")
    return {"gnd": gnd, "out": base / "out", "preview": load_dataset(str(base / "out"), "preview", split="test")}


def _yellowness(pixels: np.ndarray) -> np.ndarray:
    """How far a pixel is from grey towards the ground truth's yellow (255, 230, 0): 0 on grey, ~100 tinted."""
    pixels = pixels.astype(float)
    return (pixels[..., 0] + pixels[..., 1]) / 2 - pixels[..., 2]


def _eroded(mask: np.ndarray, steps: int) -> np.ndarray:
    """The mask less ``steps`` pixels along its border (JPEG rings along colour edges, its chroma at half size)."""
    for _ in range(steps):
        padded = np.pad(mask, 1)
        mask = mask & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask


def test_preview_is_a_config_of_the_card_that_loads(built):
    preview = built["preview"]
    assert preview.column_names == ["query_id", "index_id", "query_name", "index_name", "difficulty", "labelled",
                                    "query_crop", "index_image"]
    for row in (preview[0], preview[preview.num_rows - 1]):
        for column in ("query_crop", "index_image"):
            assert isinstance(row[column], Image.Image) and row[column].format == "JPEG"
            assert max(row[column].size) <= rows.PREVIEW_SIDE
    card = DatasetCard.load(built["out"] / "README.md")
    configs = {c["config_name"]: c for c in card.data.configs}
    assert configs["preview"]["data_files"] == [{"split": "test", "path": "preview/test-*.parquet"}]
    assert [name for name, c in configs.items() if c.get("default")] == ["pairs"]
    infos = {i["config_name"]: i for i in card.data.dataset_info}
    assert infos["preview"]["splits"][0]["num_examples"] == preview.num_rows == 123
    assert "| `preview` | test | (query, positive) shown as pictures | 123 |" in card.text
    assert "the benchmark's data is `pairs`, `queries` and `index`" in " ".join(card.text.split())
    streamed = next(iter(load_dataset(str(built["out"]), "preview", split="test", streaming=True)))
    assert streamed["index_image"].size == (256, 192) and streamed["query_crop"].size == (256, 88)


def test_up_to_eight_positives_per_query_first_by_id_both_kinds(built):
    preview = built["preview"]
    shown = list(zip(preview["query_id"], preview["index_id"], preview["difficulty"]))
    assert shown == sorted(shown)  # by query, then index id, as the pairs
    assert max(Counter(preview["query_id"]).values()) == rows.PREVIEW_PER_QUERY == 8
    by_query = {q: [(i, d) for q_, i, d in shown if q_ == q] for q in range(16)}
    assert by_query[0] == [(0, "easy"), (1, "easy"), (2, "easy"), (3, "easy"),
                           (7, "hard"), (8, "hard"), (9, "hard"), (10, "hard")]  # 7 easy, 5 hard: half each
    assert by_query[1] == [(i, "easy") for i in range(8)]  # no hard one: all easy
    assert by_query[2] == [(3, "easy")] + [(i, "hard") for i in range(4, 11)]  # one easy: the rest hard
    assert by_query[3] == [(1, "easy"), (2, "easy"), (5, "hard")]  # fewer than 8: all of them
    assert by_query[4] == [(i, "easy") for i in range(6)] + [(16, "hard"), (20, "hard")]
    names = built["gnd"]
    assert all(preview["query_name"][k] == names["qimlist"][q] and preview["index_name"][k] == names["imlist"][i]
               for k, (q, i, _) in enumerate(shown))
    assert 23 not in preview["index_id"]  # junk is never shown


def test_the_tint_and_outline_are_where_the_mask_is(built):
    preview = built["preview"]
    medium = load_dataset(str(built["out"]), "pairs", split="medium")
    masks = {(q, i): m for q, i, m in zip(medium["query_id"], medium["index_id"], medium["mask"])}
    checked = 0
    for row in preview:
        picture = np.asarray(row["index_image"])
        assert picture.shape == (192, 256, 3)  # 400 x 300 shrunk to 256 on its longest side; the rotated one too
        yellow = _yellowness(picture)
        if not row["labelled"]:
            assert (row["query_id"], row["index_id"]) == UNLABELLED and masks[UNLABELLED] is None
            assert np.abs(yellow).max() < 12 and np.abs(picture.astype(float) - GREY).max() < 12  # no overlay
            continue
        full = decode(masks[row["query_id"], row["index_id"]]).astype(bool)
        rows_at = ((np.arange(192) + 0.5) * HEIGHT / 192).astype(int)  # nearest neighbour, pixel centres
        cols_at = ((np.arange(256) + 0.5) * WIDTH / 256).astype(int)
        mask = full[np.ix_(rows_at, cols_at)]
        inside, outside, border = _eroded(mask, 1), _eroded(~mask, 2), mask & ~_eroded(mask, 2)
        assert inside.sum() > 5000 and outside.sum() > 5000
        assert yellow[inside].min() > 55  # every pixel of the mask tinted (~97 on this grey)
        assert np.median(np.abs(picture[outside].astype(float) - GREY)) <= 2  # grey around it, but for JPEG's
        assert np.abs(yellow[outside]).max() < 50 and (np.abs(yellow[outside]) > 20).mean() < 0.01  # edge ringing
        assert yellow[border].mean() > yellow[_eroded(mask, 4)].mean() + 30  # the outline: the full colour
        checked += 1
    assert checked == preview.num_rows - 1


def test_the_query_crop_is_the_bbx_with_its_aspect_ratio(built):
    preview = built["preview"]
    for q in (0, 1):
        row = preview[preview["query_id"].index(q)]
        x1, y1, x2, y2 = built["gnd"]["gnd"][q]["bbx"]
        crop = np.asarray(row["query_crop"])
        height, width = crop.shape[:2]
        assert max(width, height) == min(rows.PREVIEW_SIDE, max(x2 - x1, y2 - y1))  # shrunk, never enlarged
        assert abs(width * (y2 - y1) - height * (x2 - x1)) <= max(x2 - x1, y2 - y1)  # aspect within a pixel
        assert crop.min() > 200  # the white bbx of a black image: exactly the box, none of its surroundings
    assert preview[preview["query_id"].index(0)]["query_crop"].size == (256, 88)  # 350 x 120
    assert preview[preview["query_id"].index(1)]["query_crop"].size == (60, 40)


def test_row_groups_stay_within_the_viewer_limit(built):
    shards = sorted((built["out"] / "preview").glob("*.parquet"))
    groups = [pq.ParquetFile(shard).metadata.row_group(k) for shard in shards
              for k in range(pq.ParquetFile(shard).metadata.num_row_groups)]
    assert [group.num_rows for group in groups] == [100, 23]  # rows.TABLE_ROWS: the viewer's 100 for images
    assert all(group.total_byte_size < VIEWER_MAX_ROW_GROUP_BYTES for group in groups)
    for config in ("queries", "index"):  # the other configs with images too
        for shard in (built["out"] / config).glob("*.parquet"):
            metadata = pq.ParquetFile(shard).metadata
            assert all(metadata.row_group(k).num_rows <= rows.TABLE_ROWS[config] == 100
                       for k in range(metadata.num_row_groups))


def test_tools_that_list_configs_take_the_preview(built, capsys):
    assert main(["push", "dataset", str(built["out"]), "--repo-id", "pixret/proxford-demo", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "ok: config 'preview' split 'test': 123 rows, as the card says, every shard read" in out
    assert "  preview/test-00000-of-00001.parquet  " in out
    local = open_dataset(str(built["out"])).load("preview", "test")
    assert local["index_id"] == built["preview"]["index_id"]
    assert local[5]["index_image"].size == (256, 192)
