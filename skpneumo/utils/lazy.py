"""Public names re-exported by a package but imported on first use.

The command line and the data-set helpers must start without loading TensorFlow,
so packages whose modules import Keras re-export their names lazily.
"""

import importlib


def lazy_exports(package, exports):
    """``__getattr__`` and ``__dir__`` for ``package`` re-exporting ``exports`` lazily.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : dict of str to str
        Public name -> module defining it, relative to ``package`` (``".model"``).

    Returns
    -------
    (callable, callable)
        To assign to the package's ``__getattr__`` and ``__dir__``.
    """
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name):
        if name in exports:
            value = getattr(importlib.import_module(exports[name], package), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
