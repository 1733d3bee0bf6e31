"""Figures as tables: a method's row per protocol, and the paper's Table 1 / Table 2 with your row in it.

The paper's numbers (An et al., ICCV 2023) are ``paper/table1_mean_miou.csv`` and
``paper/table2_map.csv`` beside this file, transcribed from the paper; cells are
kept as printed (one reads "33.", its decimal lost in print). They are the one
source of the reference numbers in the dataset card, the metric card and the tools.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from ..core.benchmarks import BENCHMARKS, Benchmark
from ..core.errors import InputError
from ..core.figures import FIGURES, LABELS

PAPER = Path(__file__).resolve().parent / "paper"
PERCENT = "figures in % (compute and the JSON give fractions in [0, 1])"  # the caption of a method's table


def _facts(benchmark: str) -> Benchmark:
    facts = BENCHMARKS.get(benchmark)
    if facts is None or facts.paper_tables is None:
        with_tables = sorted(b.name for b in BENCHMARKS.values() if b.paper_tables)
        raise InputError(f"no paper tables for {benchmark!r}: the paper's tables are for {with_tables}")
    return facts


def _paper_lines(benchmark: str, number: int) -> list[str]:
    path = PAPER / _facts(benchmark).paper_tables[number - 1]  # an absolute path stays itself
    return path.read_text(encoding="utf-8").splitlines()


def read_paper_table(benchmark: str, number: int) -> list[dict]:
    """Rows of the paper's Table 1 or 2 (of ``benchmark``'s paper) as printed (strings; "" = not reported)."""
    return list(csv.DictReader(line for line in _paper_lines(benchmark, number) if not line.startswith("#")))


def paper_notes(benchmark: str, number: int) -> list[str]:
    """The comment lines at the top of a table's CSV (what it is, how it was transcribed)."""
    return [line.lstrip("# ").rstrip() for line in _paper_lines(benchmark, number) if line.startswith("#")]


def _columns(facts: Benchmark, table: int) -> list[tuple[str, str]]:
    """(header, CSV column) of the benchmark's cells in Table 1 or 2, as the CSVs name them."""
    if table == 1:
        return [(f"{p} {k}", f"{facts.name}_{p}_{k}") for p in facts.reported_protocols for k in ("D", "S")]
    return [(f"{r}{p}", f"{facts.name}_{c}{p[0].upper()}") for r, c in (("", ""), ("R1M ", "r1m_"))
            for p in facts.reported_protocols]


# ---------------------------------------------------------------- a method's own rows
def results_table(results: dict, fmt: str = "text", intervals: dict | None = None) -> str:
    """One row per protocol, figures in %, as aligned text or Markdown, with a line on what they are not;
    with ``intervals`` ({protocol: {figure: (low, high)}}) a row of 95% intervals under each protocol's."""
    header = ["protocol"] + [f.label for f in FIGURES]
    rows = []
    for p, r in results.items():
        rows.append([p] + [_percent(r.get(f.key)) for f in FIGURES])
        if intervals:
            rows.append(["  95% interval"] + [_span(intervals[p].get(f.key)) for f in FIGURES])
    notes = [PERCENT] + caveats(results) + (["95% intervals: bootstrap over the queries (pixret.metric.core.uncertainty)"]
                                            if intervals else [])
    if fmt == "markdown":  # (a line right under a Markdown table would be read as one of its rows)
        return "\n\n".join([_render(header, rows, fmt), "\n".join(f"- {note}" for note in notes)]).rstrip()
    return "\n".join([_render(header, rows, fmt), *notes])


def _span(interval) -> str:
    return "-" if interval is None else f"{100 * interval[0]:.1f}-{100 * interval[1]:.1f}"


def per_query_csv(results: dict) -> str:
    """Per-query figures of every protocol (pixel AP: mean over the thresholds at which the query counts)."""
    keys = ["miou_det", "miou_seg", "image_ap", "image_p@1", "image_p@5", "image_p@10"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["protocol", "query_id", *keys, "ap_det", "ap_seg"])
    for protocol, result in results.items():
        per_query = result["per_query"]
        for k, q in enumerate(per_query["query_id"]):
            row = [protocol, q] + [_cell((per_query.get(key) or [None] * (k + 1))[k]) for key in keys]
            for key in ("ap_det", "ap_seg"):
                values = [v for v in ((per_query.get(key) or [[]] * (k + 1))[k]) if v is not None]
                row.append(_cell(sum(values) / len(values) if values else None))
            writer.writerow(row)
    return out.getvalue()


def _cell(value):
    return "" if value is None else f"{value:.6f}"


def oracle_table(results: dict, fmt: str = "text") -> str:
    """Pixel mAP as it is, with a perfect ranking (same masks) and with perfect masks (same ranking), per protocol:
    which half of the method costs the most."""
    header = ["protocol", "mAP det", "mAP seg", "perfect ranking: det", "seg", "perfect masks: det", "seg"]
    rows = [[p, _percent(r["map_det"]), _percent(r["map_seg"])] + [_percent(r["oracles"][o][f"map_{k}"])
                                                                   for o in ("perfect_ranking", "perfect_masks")
                                                                   for k in ("det", "seg")]
            for p, r in results.items() if r.get("oracles")]
    return _render(header, rows, fmt)


def methods_table(methods: dict, columns: list[tuple[str, str]], fmt: str = "markdown") -> str:
    """One row per method ({name: {protocol: result}}), one column per (protocol, figure key), in %."""
    header = ["method"] + [f"{protocol} {LABELS[key]}" for protocol, key in columns]
    rows = [[name] + [_percent(results[protocol].get(key), 1) for protocol, key in columns]
            for name, results in methods.items()]
    return _render(header, rows, fmt)


def caveats(results: dict) -> list[str]:
    """What the figures of ``results`` ({protocol: result}) are not: a subset, the unofficial variant, pairs left
    out as the authors' code does. One line each, said wherever the figures are shown."""
    first = next(iter(results.values()))
    lines = []
    if first.get("subset") is not None:
        lines.append(f"subset: figures over {len(first['subset'])} queries only ({first['subset'][:20]}"
                     f"{' ...' if len(first['subset']) > 20 else ''}), not the benchmark's figures")
    if first.get("official") is False:
        lines.append("unofficial variant (official=False): exact geometry (polygons filled and clipped to the image), "
                     "the ignored queries leave pixel mAP's denominator and easy positives without prediction count "
                     "0 in medium mIoU; not the paper's figures")
    if kind_caveat(results):
        lines.append(kind_caveat(results))
    for protocol, r in results.items():
        if r.get("skipped_pairs"):
            lines.append(f"{protocol}: {r['skipped_pairs']} easy positives without prediction are left out of mean "
                         "mIoU, as the authors' mious.py does (official=False counts them as 0)")
    return lines


def kind_caveat(results: dict) -> str | None:
    """Official figures from masks or boxes, which the authors' scripts cannot take: say how they were scored."""
    first = next(iter(results.values()))
    kinds = first.get("kinds") or {}
    if first.get("official") is False or not (kinds.get("mask") or kinds.get("box")):
        return None
    given = " and ".join(k + "s" for k in ("mask", "box") if kinds.get(k))
    return (f"scored from {given}, exactly against the ground-truth mask: the paper's rows are polygons scored by "
            "the authors' procedure on the released shapes; on the same regions the two differ by 0.1-0.3 points "
            "of mean mIoU (metric card: what is identical to the authors' scripts)")


def breakdown_table(counts: dict, fmt: str = "text") -> str:
    """The error breakdown ({"medium seg": {category: count}}) as a table, counts and % of the positives."""
    categories = list(next(iter(counts.values())))
    header = ["protocol / IoU"] + categories
    rows = []
    for key, row in counts.items():
        total = sum(row[c] for c in categories[:4])
        rows.append([key] + [f"{row[c]} ({100 * row[c] / total:.0f}%)" if n < 4 and total else str(row[c])
                             for n, c in enumerate(categories)])
    return _render(header, rows, fmt)


def _percent(value, digits: int = 2) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}"


def _render(header: list[str], rows: list[list[str]], fmt: str) -> str:
    if fmt == "markdown":
        def cells(row) -> str:  # a "|" in a name (a method's, a query's) would open a cell of its own
            return "| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |"

        return "\n".join([cells(header), "|" + "---|" * len(header)] + [cells(row) for row in rows])
    if fmt != "text":
        raise ValueError(f"unknown table format {fmt!r}; expected text or markdown")
    columns = list(zip(header, *rows))
    widths = [max(len(str(c)) for c in column) for column in columns]
    numeric = [all(_is_number(c) for c in column[1:]) for column in columns]
    return "\n".join("  ".join(str(c).rjust(w) if right else str(c).ljust(w)
                               for c, w, right in zip(row, widths, numeric)).rstrip() for row in [header] + rows)


def _is_number(cell) -> bool:
    """A cell to right-align: a number, an interval "low-high", or empty."""
    return cell in ("", "-") or re.fullmatch(r"-?\d+(\.\d*)?(-\d+(\.\d*)?)?", str(cell)) is not None


# ---------------------------------------------------------------- the paper's tables with your row
@dataclass
class Comparison:
    title: str
    header: list[str]
    rows: list[list[str]]  # as printed; the user's row marked in its first cell
    user_rank: int  # 0-based position of the user's row
    notes: list[str]

    def render(self, fmt: str = "text") -> str:
        mark = (lambda cell: f"**{cell}**" if cell else cell) if fmt == "markdown" else (lambda cell: cell)
        rows = [[mark(c) for c in row] if k == self.user_rank else row for k, row in enumerate(self.rows)]
        if fmt != "markdown":
            rows[self.user_rank] = ["-> " + rows[self.user_rank][0]] + rows[self.user_rank][1:]
        body = _render(self.header, rows, fmt)
        notes = [f"- {n}" if fmt == "markdown" else f"  {n}" for n in self.notes]
        title = f"**{self.title}**" if fmt == "markdown" else self.title
        return "\n".join([title, "", body, "", *notes]).rstrip() + "\n"


def _number(cell: str) -> float | None:
    return float(cell) if cell not in ("", None) else None


def compare(benchmark: str, results: dict, name: str = "yours", table: int = 1, r1m: bool = False,
            not_comparable: str | None = None) -> Comparison:
    """The paper's Table 1 (mean mIoU) or Table 2 (mAP@50:5:95) for ``benchmark`` with the row of
    ``results`` ({protocol: figures}) inserted at its rank by the first column (medium D / medium).

    ``r1m``: the figures were computed with the 1M distractors (Table 2's R1M columns).
    ``not_comparable``: why the figures are not the paper's kind (custom data, a subset of the queries, the
    unofficial variant): the row is then marked so and put last, never ranked among the paper's.
    Columns not computed (a protocol not evaluated, R1M or not) stay empty, never filled.
    """
    facts = _facts(benchmark)
    protocols = facts.reported_protocols
    paper = read_paper_table(benchmark, table)
    columns = _columns(facts, table)
    notes = []
    if table == 1:
        yours = [_user_cell(results, p, "miou_det" if k == "D" else "miou_seg") for p in protocols for k in "DS"]
        title = (f"Table 1 ({facts.pretty_name}): pixel retrieval from ground-truth pairs, mean mIoU (%), D = box, "
                 "S = mask")
        group = "family"
        rows = paper
    else:
        mine = [_user_cell(results, p, "map_det") for p in protocols]
        blank = [""] * len(protocols)
        yours = blank + mine if r1m else mine + blank
        title = (f"Table 2 ({facts.pretty_name}): pixel retrieval from the database, mAP@50:5:95 (%, detection IoU "
                 "as in the paper)")
        group = "ranking"
        rows = [r for r in paper if r["method"] != "Image level mAP"]
        image = [r for r in paper if r["method"] == "Image level mAP"]
        notes.append(f"image-level mAP of the paper's rankings ({' / '.join(protocols)}): " + "; ".join(
            f"{r['ranking']} " + " / ".join(r[column] for _, column in columns[:len(protocols)]) for r in image)
            + "; yours: " + " / ".join(_user_cell(results, p, "image_map") or "-" for p in protocols))
    header = [group, "method"] + [label for label, _ in columns]
    printed = [[r[group], r["method"]] + [r[key] for _, key in columns] for r in rows]
    key_column = 2 if not (table == 2 and r1m) else 2 + len(protocols)
    user_value = _number(([""] * 2 + yours)[key_column])
    rank = len(printed) if user_value is None or not_comparable else sum(
        1 for row in printed if (_number(row[key_column]) or -1) >= user_value)
    order = sorted(range(len(printed)), key=lambda k: -(_number(printed[k][key_column]) or -1))
    ordered = [printed[k] for k in order]
    ordered.insert(rank, ["(yours)", name + (f" (not comparable: {not_comparable})" if not_comparable else "")]
                   + yours)
    if any("33." == cell for row in printed for cell in row):
        notes.append('"33." is printed so in the paper (its decimal lost); kept as printed, ranked as 33.0')
    if any(cell == "" for cell in yours):
        notes.append("your empty cells: not computed here (no masks, a protocol not evaluated, or the other "
                     "R1M setting); never filled")
    if kind_caveat(results) and not not_comparable:
        notes.insert(0, kind_caveat(results))
    if not_comparable:
        notes.insert(0, f"your figures are {not_comparable}: not comparable to the paper's, so not ranked among "
                        "them; the table only shows the layout")
    if not set(results) & set(protocols):
        notes.insert(0, f"the paper reports {' and '.join(protocols)}; your figures are for {', '.join(results)}: "
                        "your row is empty (evaluate with --protocols " + " ".join(protocols) + ")")
    notes.append(f"rows ordered by {header[key_column]}; source: An et al., ICCV 2023, Table {table}")
    return Comparison(title, header, ordered, rank, notes)


def _user_cell(results: dict, protocol: str, key: str) -> str:
    value = results.get(protocol, {}).get(key)
    return "" if value is None else f"{100 * value:.1f}"


def paper_table(benchmark: str, table: int, fmt: str = "markdown") -> str:
    """The paper's Table 1 or 2 for one benchmark, as printed (the dataset and metric cards quote it)."""
    facts = _facts(benchmark)
    first = "family" if table == 1 else "ranking"
    columns = _columns(facts, table)
    header = [first, "method"] + [label for label, _ in columns]
    rows = [[r[first], r["method"]] + [r[key] or "-" for _, key in columns] for r in read_paper_table(benchmark, table)]
    return _render(header, rows, fmt)
