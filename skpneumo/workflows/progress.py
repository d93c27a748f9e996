"""Progress bars on stderr for long jobs, silent when ``quiet``."""

import sys

from tqdm.auto import tqdm


def progress(iterable=None, *, quiet, **kwargs):
    """A tqdm bar on stderr, disabled when ``quiet``.

    Parameters
    ----------
    iterable : iterable or None, default=None
        Wrapped by the bar; None for a bar updated by hand (``bar.update(n)``).
    quiet : bool
        No bar at all (the iterable is still iterated).
    **kwargs
        Further keywords of ``tqdm`` (``total``, ``desc``, ``unit``, ...).

    Returns
    -------
    tqdm.tqdm
        Usable as an iterator and as a context manager.
    """
    return tqdm(iterable, disable=quiet, file=sys.stderr, dynamic_ncols=True, **kwargs)
