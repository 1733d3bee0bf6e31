#!/usr/bin/env python
"""CPU time to accept or refuse an output folder by its marker (.pixret-output.json), crafted or large.

    python benchmarks/bench_marker.py [--entries 3000000] [--keys 87381] [--repeat 3]

`--overwrite` reads the marker of the folder it would replace (``outputs.check_folder``). Each line: the marker's
shape and size, the CPU seconds of one check (best of 3, ``time.process_time``), and what it said. Shapes:
- crafted: ENTRIES file names in the list (a folder holding one file of its own and one foreign file);
- crafted, one name: the same name ENTRIES times;
- crafted keys: an object of KEYS keys (default: as many as fit in MARKER_LIMIT); strictjson's duplicate check
  costs n^2 there (5,000 / 10,000 / 20,000 keys: 0.25 / 1.0 / 3.8 CPU s), a marker refuses more than 16 keys;
- deep names: names of many folders, to MARKER_LIMIT;
- largest legal: as many names as fit in MARKER_LIMIT (accepted: its one foreign file found).
To compare with another checkout: PYTHONPATH=/path/to/it python benchmarks/bench_marker.py.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from pixret import outputs

LIMIT = getattr(outputs, "MARKER_LIMIT", 1 << 20)


def timed(fn, repeat):
    best, said = float("inf"), None
    for _ in range(repeat):
        start = time.process_time()
        try:
            fn()
            said = "accepted"
        except outputs.OutputError as err:
            said = str(err)
        best = min(best, time.process_time() - start)
    return best, said


def folder_with(base: Path, name: str, marker_text: str) -> Path:
    folder = base / name
    folder.mkdir()
    (folder / "f0").write_text("ours")
    (folder / "mine.txt").write_text("the user's")
    (folder / outputs.MARKER).write_text(marker_text)
    return folder


def marker(files) -> str:
    return json.dumps({"command": "export-coco", "pixret_version": "0", "files": files})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=3_000_000)
    parser.add_argument("--keys", type=int, default=LIMIT // 12)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", help="one shape (its name)")
    args = parser.parse_args()
    shapes = {
        "crafted": marker([f"f{k}" for k in range(args.entries)]),
        "crafted, one name": marker(["f0"] * args.entries),
        "crafted keys": "{" + ",".join(f'"k{k}":0' for k in range(args.keys)) + "}",
        "deep names": marker(["/".join(["d"] * 1000) + f"/f{k}" for k in range(LIMIT // 2100)]),
        "largest legal": marker([f"f{k}" for k in range(LIMIT // 12)]),
    }
    print(f"marker limit: {LIMIT:,} bytes")
    with tempfile.TemporaryDirectory() as base:
        for name, text in shapes.items():
            if args.only and name != args.only:
                continue
            folder = folder_with(Path(base), name.replace(" ", "_").replace(",", ""), text)
            seconds, said = timed(lambda: outputs.check_folder(folder, "export-coco", overwrite=True, inputs=()),
                                  args.repeat)
            said = said.replace(str(folder), "FOLDER")
            print(f"{name:18s} {len(text):>12,} bytes  {seconds:7.3f} CPU s  {said[:150]}")


if __name__ == "__main__":
    main()
