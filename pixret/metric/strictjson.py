"""JSON read strictly: an object with a key given twice is an error (``json`` keeps the last without a word),
for every file pixret reads from outside (result files, LabelMe labels, build reports, output markers)."""

from __future__ import annotations

import json


def loads(data):
    """``json.loads`` refusing a key given twice in an object (a ValueError naming it)."""
    return json.loads(data, object_pairs_hook=_object)


def _object(pairs: list) -> dict:
    keys = [k for k, _ in pairs]
    twice = next((k for k in keys if keys.count(k) > 1), None)
    if twice is not None:
        raise ValueError(f"an object has the key {twice!r} twice")
    return dict(pairs)
