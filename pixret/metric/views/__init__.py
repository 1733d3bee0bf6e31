"""pixret.metric.views: Tables and plots of evaluations (imports core)."""

import io
from pathlib import Path

# Every PNG pixret writes (plots, report panels) at zlib level 1: 3-4x faster to write than the default 6 (writing
# was half of the demo's report), a few percent larger
PNG_LEVEL = 1


def write_picture(path, save) -> Path:
    """Write the picture ``save(buffer)`` draws (e.g. ``lambda out: image.save(out, "PNG")``, ``figure.savefig``) to
    ``path``. Drawn in memory, then written by Python, which raises when the disk does not take every byte: Pillow
    (also matplotlib's PNG writer) does not check that a file took its last write, and would leave it cut short."""
    buffer = io.BytesIO()
    save(buffer)
    path = Path(path)
    path.write_bytes(buffer.getbuffer())
    return path
