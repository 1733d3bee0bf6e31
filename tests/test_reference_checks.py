"""The references' named checks one by one (``pixret.metric.core.references``), and the order in which
``check_references`` runs them: the first problem of a split is the one told. The whole function on every bad
split is in test_bad_input.py; here each check's own rule and edge, and that no message names a CLI flag."""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from pixret import masks
from pixret.metric.core import references as refs_module
from pixret.metric.core.benchmarks import BENCHMARKS
from pixret.metric.core.errors import InputError
from pixret.metric.core.references import (_check_coverage, _check_ids_known, _check_no_duplicates, _check_subset,
                                           _checked_masks, _positive_column, _read_columns, _Rows, _sizes,
                                           check_references)

MASK = masks.encode(np.pad(np.ones((4, 4), np.uint8), 2))
OX = BENCHMARKS["proxford"]


def _ids(*values) -> np.ndarray:
    return np.asarray(values, np.int64)


@pytest.fixture
def custom_rows(generators) -> list[dict]:
    """A custom split in memory: 4 queries of 2 easy, 1 hard, 1 junk rows."""
    return generators.split_rows([f"q{q}" for q in range(4)], [(2, 1, 1)] * 4, 12, MASK)


def test_sizes_are_the_benchmarks_own_or_the_options():
    assert _sizes(None, _ids(0, 5, 2), None, None) == (6, None)  # custom: the largest query id + 1
    assert _sizes(None, _ids(0, 5, 2), 9, 40) == (9, 40)
    assert _sizes(OX, _ids(0), None, None) == (70, 4993)
    assert _sizes(OX, _ids(0), 70, 4993) == (70, 4993)
    with pytest.raises(InputError, match=r"^index_size=4000, but PROxford has 4993$"):
        _sizes(OX, _ids(0), None, 4000)


def test_ids_known_name_the_first_unknown_row_and_its_pair():
    where = _Rows(_ids(0, 3, 1), _ids(2, 7, 11))
    with pytest.raises(InputError, match=r"^references row 1 \(pair \(3, 7\)\): unknown query id 3 \(queries 0..2\)$"):
        _check_ids_known(_ids(0, 3, 1), _ids(2, 7, 11), 3, None, where)
    with pytest.raises(InputError, match=r"^references row 2 .*: unknown index id 11 \(the index has 10 images\)$"):
        _check_ids_known(_ids(0, 2, 1), _ids(2, 7, 11), 3, 10, where)
    _check_ids_known(_ids(0, 2, 1), _ids(2, 7, 2**61), 3, None, where)  # no index size: any id >= 0
    with pytest.raises(InputError, match=r"^references row 0 .*: unknown index id -1$"):
        _check_ids_known(_ids(0), _ids(-1), 3, None, _Rows(_ids(0), _ids(-1)))


def test_duplicates_name_the_later_row_even_with_ids_that_overflow_a_combined_key():
    query_ids, index_ids = _ids(2**62, 0, 2**62, 1), _ids(5, 5, 5, 2**62)
    with pytest.raises(InputError, match=r"^references row 2 .*: this pair appears twice$"):
        _check_no_duplicates(query_ids, index_ids, _Rows(query_ids, index_ids))
    _check_no_duplicates(_ids(0, 1, 0), _ids(1, 0, 0), _Rows(_ids(0, 1, 0), _ids(1, 0, 0)))  # (0, 1) vs (1, 0)


def test_coverage_names_up_to_ten_missing_queries():
    assert _check_coverage(_ids(2, 0, 1, 0), 3, None).tolist() == [0, 1, 2]
    with pytest.raises(InputError, match=r"references lack queries \[1\] \(2 of 3 queries of the data\)"):
        _check_coverage(_ids(0, 2), 3, None)
    with pytest.raises(InputError, match=r"lack queries \[1, 2, .*, 10\] \.\.\. \(1 of 70 queries of PROxford\)") as err:
        _check_coverage(_ids(0), 70, OX)
    assert "queries=[...]" in str(err.value) and "--" not in str(err.value)


def test_subset_keeps_the_order_asked_and_a_list_of_every_query_is_no_subset():
    wanted, subset = _check_subset(_ids(3, 1, 3), [3, 1], 5)
    assert wanted.tolist() == [3, 1] and subset
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [a.tolist() if isinstance(a, np.ndarray) else a for a in _check_subset(_ids(0, 1, 2), [0, 1, 2], 3)] \
            == [[0, 1, 2], False]
    with pytest.warns(UserWarning, match="queries lists every query, in another order than their ids"):
        wanted, subset = _check_subset(_ids(0, 1, 2), [2, 0, 1], 3)
    assert wanted.tolist() == [0, 1, 2] and not subset
    with pytest.raises(InputError, match=r"not hold exactly the queries asked for: extra \[2\] missing \[4\]$"):
        _check_subset(_ids(1, 2), [1, 4], 5)


def test_positive_flags_are_booleans_only():
    assert _positive_column([True, np.bool_(False)]).tolist() == [True, False]
    for value in (1, "true", None):
        with pytest.raises(InputError, match=rf"^references row 1: positive must be true or false, got {value!r}$"):
            _positive_column([True, value])


def test_columns_of_a_benchmark_need_its_query_names(custom_rows):
    rows = [{k: v for k, v in row.items() if k != "query_name"} for row in custom_rows]
    assert set(_read_columns(rows, None)) == {"query_id", "index_id", "difficulty", "positive", "mask"}
    assert "query_name" in _read_columns(custom_rows, None)  # read when given: the custom check looks at them
    with pytest.raises(InputError, match=r"'query_name'\] \(the query names tell which benchmark the references "
                                         r"are\)$"):
        _read_columns(rows, OX)
    with pytest.raises(InputError, match="^references are empty"):
        _read_columns([], OX)


def test_masks_are_kept_for_labelled_positives_only():
    positive = np.asarray([True, False, True])
    checked = _checked_masks([MASK, MASK, None], positive, _Rows(_ids(0, 0, 0), _ids(0, 1, 2)))
    assert checked[0] is not None and checked[1] is None and checked[2] is None  # junk's mask is not read
    assert isinstance(checked[0]["counts"], bytes)  # pycocotools' RLE
    with pytest.raises(InputError, match=r"^references row 2 \(pair \(0, 2\)\): mask: "):
        _checked_masks([MASK, None, {"size": [8, 8], "counts": "zz"}], positive, _Rows(_ids(0, 0, 0), _ids(0, 1, 2)))


@pytest.mark.parametrize("problems, first", [
    (("unknown query", "duplicate", "missing query"), "unknown query id 9"),
    (("duplicate", "missing query"), "this pair appears twice"),
    (("missing query", "bad mask"), "references lack queries"),
    (("bad mask", "positive 1"), "positive must be true or false"),
    (("bad mask",), "mask: "),
])
def test_the_first_problem_in_check_order_is_told(problems, first, custom_rows):
    rows = list(custom_rows)
    if "bad mask" in problems:
        rows[0] = {**rows[0], "mask": {"size": [8, 8], "counts": "zz"}}
    if "positive 1" in problems:
        rows[-1] = {**rows[-1], "positive": 1}
    if "duplicate" in problems:
        rows.append(dict(rows[1]))
    if "missing query" in problems:
        rows = [row for row in rows if row["query_id"] != 2]
    if "unknown query" in problems:
        rows[3] = {**rows[3], "query_id": 9}
    with pytest.raises(InputError, match=re.escape(first)):
        check_references(rows, "custom", index_size=12, num_queries=4)


def test_messages_of_the_checks_name_no_flag():
    """Library messages name Python parameters; the CLI turns them into its flags (``pixret.cli.as_flags``)."""
    root = Path(refs_module.__file__).resolve().parents[3] / "pixret"
    for path in (root / "metric/core/references.py", root / "metric/views/tables.py", root / "hub_eval.py"):
        tree = ast.parse(path.read_text())
        said = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and (
            getattr(node.func, "attr", None) in ("warn", "append", "insert") or getattr(node.func, "id", "").endswith(
                "Error"))]
        texts = [c.value for call in said for c in ast.walk(call) if isinstance(c, ast.Constant)
                 and isinstance(c.value, str)]
        flags = [t for t in texts if re.search(r"(?<![\w-])--[a-z]", t) or "pixret evaluate:" in t]
        assert not flags, f"{path.name}: {flags}"
