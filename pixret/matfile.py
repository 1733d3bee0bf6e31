"""revisitop's ground truth from its MATLAB files (``gnd_roxford5k.mat``, ``gnd_rparis6k.mat``).

These are MATLAB v5 files with 1-based ids; they give exactly the dict of the
``.pkl`` versions (0-based). Reading them needs scipy (``pip install "pixret[mat]"``);
scipy's reader parses the file format, it runs nothing from the file.
"""

from __future__ import annotations

import numpy as np

from pixret.errors import ReleaseError


def load_gnd_mat(path) -> dict:
    """{"imlist", "qimlist", "gnd": [{"easy", "hard", "junk", "bbx"}]} with 0-based ids."""
    try:
        from scipy.io import loadmat
    except ImportError:
        raise ReleaseError(f'{path}: reading .mat ground truth needs scipy: pip install "pixret[mat]" '
                           "(or pass revisitop's .pkl)") from None
    try:
        data = loadmat(str(path), squeeze_me=False, struct_as_record=True)
    except Exception as err:  # noqa: BLE001 - scipy's MatReadError and friends: any failure is an unusable file
        raise ReleaseError(f"{path}: not a MATLAB v5 gnd file ({err})") from None
    missing = [k for k in ("imlist", "qimlist", "gnd") if k not in data]
    if missing:
        raise ReleaseError(f"{path}: a gnd .mat file holds imlist, qimlist and gnd; this one lacks {missing}")
    try:
        gnd = []
        for q, entry in enumerate(data["gnd"].ravel()):
            lists = {k: _zero_based(entry[k], f"{path}: query {q} '{k}'") for k in ("easy", "hard", "junk")}
            gnd.append({**lists, "bbx": np.asarray(entry["bbx"], np.float64).ravel().tolist()})
        return {"imlist": _names(data["imlist"]), "qimlist": _names(data["qimlist"]), "gnd": gnd}
    except (ValueError, TypeError, KeyError, IndexError) as err:
        raise ReleaseError(f"{path}: unexpected gnd structure ({err})") from None


def _zero_based(values, where: str) -> list[int]:
    """MATLAB's 1-based ids (stored as integers or as whole floats) as 0-based ints."""
    ids = np.asarray(values).ravel()
    if ids.size and (ids.dtype.kind not in "iuf" or not np.all(np.mod(ids, 1) == 0)):
        raise ReleaseError(f"{where} must be whole-number index ids, got {ids[:5].tolist()}")
    return (ids.astype(np.int64) - 1).tolist()


def _names(cells) -> list[str]:
    """A MATLAB cell array of strings as a list of str."""
    return [str(np.asarray(cell).ravel()[0]) if np.asarray(cell).size else "" for cell in np.asarray(cells).ravel()]
