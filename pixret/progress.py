"""Progress bars for long work: drawn on a terminal, silent when stderr is a pipe or a file. Each step is a
``testhook`` point ("progress"): where tests stop a command in the middle of its work."""

from functools import partial

from tqdm import tqdm

from pixret import testhook


class _Bar(tqdm):
    def __iter__(self):
        for item in super().__iter__():
            testhook.reached("progress")
            yield item

    def update(self, n=1):
        testhook.reached("progress")
        return super().update(n)


bar = partial(_Bar, disable=None, leave=False, dynamic_ncols=True)
