"""Progress bars for long work: drawn on a terminal, silent when stderr is a pipe or a file."""

from functools import partial

from tqdm import tqdm

bar = partial(tqdm, disable=None, leave=False, dynamic_ncols=True)
