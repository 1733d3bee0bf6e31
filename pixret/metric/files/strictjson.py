"""JSON read strictly: an object with a key given twice is an error (``json`` keeps the last without a word),
for every file pixret reads from outside (result files, LabelMe labels, build reports, output markers)."""

from __future__ import annotations

import json
from collections import Counter


def loads(data):
    """``json.loads`` refusing a key given twice in an object (a ValueError naming it)."""
    return json.loads(data, object_pairs_hook=_object)


def _object(pairs: list) -> dict:
    obj = dict(pairs)
    if len(obj) < len(pairs):  # (counted once: a key count per key is quadratic in an object's size)
        counts = Counter(k for k, _ in pairs)
        twice = next(k for k, _ in pairs if counts[k] > 1)
        raise ValueError(f"an object has the key {twice!r} twice")
    return obj
