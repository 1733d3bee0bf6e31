"""Score what is on disk: a local dataset folder is read from the Parquet shards its card names, every time,
decoded as load_dataset decodes them; an edited shard changes the figures, a truncated, missing or short one is
an error naming the file, and two folders of the same name keep their own data."""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset

from pixret import masks
from pixret.cli import main
from pixret.dataset import DatasetError, open_dataset

MEDIUM = "pairs/medium-00000-of-00001.parquet"


@pytest.fixture
def folder(tiny_dataset, tmp_path):
    """A copy of the tiny built dataset, to edit."""
    copy = tmp_path / "a" / "ds"
    shutil.copytree(tiny_dataset["out"], copy)
    return copy


def _evaluate(folder, predictions, capsys) -> dict:
    assert main(["evaluate", "--dataset", str(folder), "--predictions", str(predictions), "--protocols", "medium",
                 "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)["medium"]


def _ground_truth_predictions(folder, path):
    entries = [{"query_id": r["query_id"], "index_id": r["index_id"], "segmentation": r["mask"]}
               for r in load_dataset(str(folder), "pairs", split="medium") if r["mask"] is not None]
    path.write_text(json.dumps(entries))
    return path


def _rewrite(path, change) -> None:
    """Rewrite a shard with ``change(table) -> table``, keeping its schema (and the features stored in it)."""
    table = pq.read_table(path)
    pq.write_table(change(table).replace_schema_metadata(table.schema.metadata), path)


def _shift_masks(table):
    """Every mask moved 8 pixels right: the same areas, other pixels."""
    rows = table.to_pylist()
    for row in rows:
        if row["mask"] is not None:
            mask = masks.decode(row["mask"])
            moved = mask * 0
            moved[:, 8:] = mask[:, :-8]
            row["mask"] = masks.encode(moved)
    return pa.Table.from_pylist(rows, schema=table.schema)


@pytest.mark.parametrize("config, splits", [("pairs", ["easy", "medium", "hard"]), ("queries", ["test"]),
                                            ("index", ["test"])])
def test_rows_decode_as_load_dataset_gives_them(folder, config, splits):
    data = open_dataset(folder)
    for split in splits:
        ours, theirs = data.load(config, split), load_dataset(str(folder), config, split=split)
        assert ours.features == theirs.features and ours.num_rows == theirs.num_rows > 0
        for mine, reference in zip(ours, theirs):
            if "image" in mine:
                assert mine["image"].size == reference["image"].size
                assert mine["image"].tobytes() == reference["image"].tobytes()
                mine, reference = {**mine, "image": None}, {**reference, "image": None}
            assert mine == reference


def test_only_the_columns_asked_for_are_read(folder):
    data = open_dataset(folder)
    sizes = data.load("index", "test", ["height", "width"])
    assert sizes.column_names == ["height", "width"] and data.index_sizes == [(48, 64)] * 12
    assert "image" in data.index.column_names  # the whole table when asked for


def test_an_edited_shard_changes_the_figures(folder, tmp_path, capsys):
    predictions = _ground_truth_predictions(folder, tmp_path / "preds.json")
    assert _evaluate(folder, predictions, capsys)["miou_seg"] == 1.0
    _rewrite(folder / MEDIUM, _shift_masks)
    edited = _evaluate(folder, predictions, capsys)["miou_seg"]
    assert 0 < edited < 0.9  # the ground truth on disk moved: the same predictions now miss part of it


def test_folders_of_the_same_name_keep_their_own_data(folder, tmp_path, capsys):
    other = tmp_path / "b" / "ds"  # the same name and card, other masks
    shutil.copytree(folder, other)
    _rewrite(other / MEDIUM, _shift_masks)
    predictions = _ground_truth_predictions(folder, tmp_path / "preds.json")
    assert _evaluate(other, predictions, capsys)["miou_seg"] < 0.9
    assert _evaluate(folder, predictions, capsys)["miou_seg"] == 1.0
    assert _evaluate(other, predictions, capsys)["miou_seg"] < 0.9
    first, second = open_dataset(folder).split("medium"), open_dataset(other).split("medium")
    assert first["mask"] == pq.read_table(folder / MEDIUM).column("mask").to_pylist()
    assert second["mask"] == pq.read_table(other / MEDIUM).column("mask").to_pylist() != first["mask"]


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    return err


def test_a_truncated_shard_is_not_a_readable_parquet_file(folder, tmp_path, capsys):
    predictions = _ground_truth_predictions(folder, tmp_path / "preds.json")
    assert _evaluate(folder, predictions, capsys)["miou_seg"] == 1.0
    shard = folder / MEDIUM
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    assert main(["evaluate", "--dataset", str(folder), "--predictions", str(predictions)]) == 1
    assert f"error: {shard}: not a readable Parquet file (" in _error(capsys)


def test_a_missing_shard_is_named(folder, tmp_path, capsys):
    table = pq.read_table(folder / MEDIUM)
    (folder / MEDIUM).unlink()
    for k, rows in enumerate((table.slice(0, 10), table.slice(10))):  # the split in two shards, as a big build has
        pq.write_table(rows, folder / f"pairs/medium-{k:05d}-of-00002.parquet")
    assert open_dataset(folder).split("medium")["mask"] == table.column("mask").to_pylist()
    predictions = _ground_truth_predictions(folder, tmp_path / "preds.json")
    (folder / "pairs/medium-00001-of-00002.parquet").unlink()
    assert main(["evaluate", "--dataset", str(folder), "--predictions", str(predictions)]) == 1
    assert _error(capsys) == (f"error: {folder}: config 'pairs' split 'medium': 1 of its 2 shards are missing: "
                              f"{folder / 'pairs/medium-00001-of-00002.parquet'}")
    (folder / "pairs/medium-00000-of-00002.parquet").unlink()
    with pytest.raises(DatasetError, match=r"pairs/medium-\*.parquet: no file \(config 'pairs' split 'medium'"):
        open_dataset(folder).split("medium")


def test_a_shard_with_other_row_counts_than_the_card_is_an_error(folder, capsys):
    _rewrite(folder / MEDIUM, lambda table: table.slice(1))
    with pytest.raises(DatasetError, match=r"config 'pairs' split 'medium' has 23 rows in "
                                           r"pairs/medium-00000-of-00001.parquet but the card's dataset_info says 24"):
        open_dataset(folder).split("medium")
    (folder / "index/test-00000-of-00001.parquet").write_bytes(b"PAR1 not parquet")
    with pytest.raises(DatasetError, match=r"index/test-00000-of-00001.parquet: not a readable Parquet file"):
        open_dataset(folder).index_sizes


def test_a_shard_rewritten_without_its_features_decodes_with_the_cards(folder):
    shard = folder / "index/test-00000-of-00001.parquet"
    pq.write_table(pq.read_table(shard).replace_schema_metadata(None), shard)  # as pandas or another tool would
    index = open_dataset(folder).index
    assert index.features == load_dataset(str(folder), "index", split="test").features
    assert index[0]["image"].size == (64, 48)  # a picture, not {bytes, path}


def test_rows_by_id_read_only_what_is_asked(folder):
    """show reads the few index images it draws: rows by id come from the row groups that may hold them."""
    data = open_dataset(folder)
    rows = data.rows("index", "test", "index_id", [7, 2, 7])
    assert sorted(rows) == [2, 7] and rows[7]["name"] == data.index[7]["name"]
    assert rows[2]["image"].tobytes() == data.index[2]["image"].tobytes()
    assert len(data.rows("index", "test", "index_id", [])) == 0
    shard = folder / "index/test-00000-of-00001.parquet"
    pq.write_table(pq.read_table(shard), shard, row_group_size=3)  # 4 row groups of 3 images
    groups = pq.ParquetFile(shard).metadata
    ids = [[groups.row_group(g).column(0).statistics.min, groups.row_group(g).column(0).statistics.max]
           for g in range(groups.num_row_groups)]
    assert ids == [[0, 2], [3, 5], [6, 8], [9, 11]]
    image = groups.row_group(0).column(groups.schema.names.index("bytes"))  # the first 3 images' bytes
    with shard.open("r+b") as file:  # break their page header: reading that row group fails
        file.seek(image.data_page_offset)
        file.write(b"\xff" * 16)
    assert sorted(open_dataset(folder).rows("index", "test", "index_id", [4, 10])) == [4, 10]  # not read
    with pytest.raises(DatasetError, match="index/test-00000-of-00001.parquet: not a readable Parquet file"):
        open_dataset(folder).rows("index", "test", "index_id", [1])
