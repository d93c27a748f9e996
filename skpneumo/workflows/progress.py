"""Progress bars on stderr for long jobs, silent when ``quiet``."""

import sys

from tqdm.auto import tqdm


def progress(iterable=None, *, quiet, **kwargs):
    """A tqdm bar on stderr, disabled when ``quiet``."""
    return tqdm(iterable, disable=quiet, file=sys.stderr, dynamic_ncols=True, **kwargs)
