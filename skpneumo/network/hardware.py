"""How the network uses the hardware: mixed precision and data-parallel training.

Both are context managers around building and fitting the Keras model, so neither
leaves a global setting changed for the caller.
"""

import contextlib

import keras

from .distributed import process_count

DISTRIBUTIONS = (None, "data_parallel")
_DATA_PARALLEL_BACKENDS = ("tensorflow", "jax")


def check_distribution(distribution):
    """Raise ValueError unless ``distribution`` is supported on the Keras backend in use.

    Parameters
    ----------
    distribution : None or "data_parallel"
        The classifier's ``distribution`` parameter.

    Raises
    ------
    ValueError
        If ``distribution`` is not in :data:`DISTRIBUTIONS`, or is ``"data_parallel"``
        on a backend other than TensorFlow or JAX.
    """
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be None or 'data_parallel', got {distribution!r}.")
    backend = keras.backend.backend()
    if distribution is not None and backend not in _DATA_PARALLEL_BACKENDS:
        raise ValueError(
            f"distribution='data_parallel' needs the TensorFlow or JAX Keras backend; "
            f"KERAS_BACKEND is {backend!r}."
        )


@contextlib.contextmanager
def precision_scope(mixed_precision):
    """Create layers under the ``mixed_float16`` dtype policy, then restore the caller's.

    Keras keeps the policy per thread, so concurrent fits do not see each other's.

    Parameters
    ----------
    mixed_precision : bool
        Use ``mixed_float16``; when False, the scope changes nothing.

    Yields
    ------
    None
    """
    if not mixed_precision:
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


@contextlib.contextmanager
def distribution_scope(distribution):
    """Build, compile and fit the model in here; yields the number of devices used.

    ``"data_parallel"`` replicates the model on every GPU (every CPU device when
    there is none) and splits each batch between them: Keras' own
    ``keras.distribution.DataParallel`` on JAX, TensorFlow's ``MirroredStrategy``
    on TensorFlow (Keras 3 implements ``keras.distribution`` for JAX only).

    Parameters
    ----------
    distribution : None or "data_parallel"
        None trains on the default device.

    Yields
    ------
    int
        Number of devices (replicas) this process's batches are split between: 1
        without ``distribution``.

    Across processes joined by :func:`skpneumo.network.distributed.join`, the devices
    are those of every process, and each process feeds its own data
    (``auto_shard_dataset=False``); the number yielded is then this process's devices.
    """
    if distribution is None:
        yield 1
    elif keras.backend.backend() == "jax":
        processes = process_count()
        data_parallel = keras.distribution.DataParallel(auto_shard_dataset=processes == 1)
        with data_parallel.scope():
            yield data_parallel.device_mesh.devices.size // processes
    else:
        import tensorflow as tf

        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        strategy = tf.distribute.MirroredStrategy([device.name for device in devices])
        with strategy.scope():
            yield strategy.num_replicas_in_sync
