"""Data-parallel training across processes and hosts: Keras' ``DataParallel`` on JAX's runtime.

The same fit runs once per process, on one host or several. :func:`join` connects the
processes (``jax.distributed``, gloo collectives on CPUs, NCCL on GPUs); a model built
and trained in ``distribution_scope("data_parallel")`` is then one model spread over the
devices of all of them (``keras.distribution.DataParallel``): each training step is one global batch, of which
every process feeds its own share (Keras turns the shares into one global array with
``jax.make_array_from_process_local_data``), and the gradients are averaged over all.

Each process reads only its shard of the training files (:func:`shard_indices`), so the
data are split before any decoding and ``auto_shard_dataset`` is off. The shards hold the
same number of films of each class, so that every process runs the same number of steps
with batches of the same size; :func:`check_same_length` refuses a fit where they do not,
rather than leaving the collectives waiting. The variables start equal because every
process draws them with one seed (:func:`shared_seed`): JAX refuses replicated variables
created with different values.
"""

import os

import keras
import numpy as np

#: Environment variables read when :func:`join`'s arguments are not given.
ENVIRONMENT = {"coordinator": "SKPNEUMO_COORDINATOR", "num_processes": "SKPNEUMO_NUM_PROCESSES",
               "process_id": "SKPNEUMO_PROCESS_ID"}
#: Seconds a process waits for all the others to join before it gives up.
JOIN_TIMEOUT = 300
#: Seconds without a sign of life after which a process counts as dead and the others stop.
HEARTBEAT_TIMEOUT = 60


def process_count():
    """Number of processes training together: 1 unless :func:`join` joined several."""
    if keras.backend.backend() != "jax":
        return 1
    import jax

    return jax.process_count() if jax.distributed.is_initialized() else 1


def process_index():
    """This process's rank among those training together: 0 for the first (or only) one."""
    if process_count() == 1:
        return 0
    import jax

    return jax.process_index()


def is_first_process():
    """Whether this process writes the outputs (the model, the card, the progress): rank 0."""
    return process_index() == 0


def _from_environment(value, name, convert=str):
    if value is not None:
        return value
    text = os.environ.get(ENVIRONMENT[name])
    if not text:
        return None
    try:
        return convert(text)
    except ValueError:
        raise ValueError(f"{ENVIRONMENT[name]} must be an integer, got {text!r}.") from None


def join(coordinator=None, num_processes=None, process_id=None, *, timeout=JOIN_TIMEOUT,
         heartbeat_timeout=HEARTBEAT_TIMEOUT):
    """Join the processes of a data-parallel training; call once per process, before any training.

    Every process runs the same command; the first (``process_id=0``) also hosts the
    coordinator. Afterwards a classifier with ``distribution="data_parallel"`` builds
    and trains its network over the devices of all processes
    (:func:`~skpneumo.network.hardware.distribution_scope`: ``DataParallel`` with
    ``auto_shard_dataset=False``, each process feeding its own data), in a scope rather
    than globally, so that the trained model can be copied onto one process afterwards
    (:func:`local_copy`).

    Parameters
    ----------
    coordinator : str or None, default=None
        ``HOST:PORT`` of process 0, reachable from every process; None reads
        ``SKPNEUMO_COORDINATOR``.
    num_processes : int or None, default=None
        Processes in all; None reads ``SKPNEUMO_NUM_PROCESSES``.
    process_id : int or None, default=None
        This process's rank, in ``[0, num_processes)``; None reads ``SKPNEUMO_PROCESS_ID``.
        When none of the three is given anywhere, JAX detects them on a cluster it
        knows (Slurm, Open MPI, Cloud TPU).
    timeout : int, default=300
        Seconds to wait for every process to join; then this one stops with an error.
    heartbeat_timeout : int, default=60
        Seconds without a heartbeat after which a process counts as dead: the others
        then stop with an error instead of waiting for it.

    Returns
    -------
    process_id, num_processes : int
        As the processes agreed on them.

    Raises
    ------
    ValueError
        Off the JAX backend, for some but not all of the three values, or bad values.
    RuntimeError
        If JAX refuses to start the distributed runtime. When the others do not join
        within ``timeout``, JAX's client ends the process itself, with exit status
        -6 and a ``DEADLINE_EXCEEDED`` message naming ``RegisterTask``; when one dies
        later, the others' collectives fail (``Gloo ... Connection closed by peer``)
        and they exit within about ``heartbeat_timeout`` seconds.
    """
    backend = keras.backend.backend()
    if backend != "jax":
        raise ValueError(f"distributed training runs on the JAX Keras backend; KERAS_BACKEND is {backend!r}: "
                         "set KERAS_BACKEND=jax (and pip install 'skpneumo[jax]').")
    coordinator = _from_environment(coordinator, "coordinator")
    num_processes = _from_environment(num_processes, "num_processes", int)
    process_id = _from_environment(process_id, "process_id", int)
    given = {"coordinator": coordinator, "num_processes": num_processes, "process_id": process_id}
    if any(v is not None for v in given.values()) and any(v is None for v in given.values()):
        missing = [f"{name} ({ENVIRONMENT[name]})" for name, value in given.items() if value is None]
        raise ValueError(f"distributed training needs coordinator, num_processes and process_id together "
                         f"(or none, on a cluster JAX detects); missing: {', '.join(missing)}.")
    if num_processes is not None:
        if num_processes < 1 or not 0 <= process_id < num_processes:
            raise ValueError(f"process_id must be in [0, num_processes), got process_id={process_id} "
                             f"and num_processes={num_processes}.")
        if ":" not in coordinator:
            raise ValueError(f"coordinator must be HOST:PORT, got {coordinator!r}.")
    import jax

    # CPUs have no collectives across processes without gloo; GPUs use NCCL whatever this says.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(coordinator, num_processes, process_id, initialization_timeout=timeout,
                                   heartbeat_timeout_seconds=heartbeat_timeout)
    except Exception as exc:
        raise RuntimeError(f"process {process_id} could not join the distributed training at {coordinator}: "
                           f"{exc}") from exc
    return jax.process_index(), jax.process_count()


def shard_indices(labels, process_id, num_processes):
    """The indices of ``labels`` this process trains on: its share of each class.

    Each class's indices, in their order, are dealt out in turn (the first to process
    0, the second to process 1, ...), after dropping the last few (fewer than
    ``num_processes``) that would leave the shares unequal: every process gets the
    same number of films of each class, so that resampling (SMOTE, class weights)
    gives every process the same number of training batches.

    Parameters
    ----------
    labels : array-like of shape (n,)
        The labels, in the same order on every process.
    process_id : int
        This process's rank.
    num_processes : int
        Processes in all.

    Returns
    -------
    ndarray of int
        Sorted indices into ``labels``.

    Raises
    ------
    ValueError
        If a class has fewer films than there are processes.
    """
    labels = np.asarray(labels)
    shares = []
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        if len(idx) < num_processes:
            raise ValueError(f"class {label.tolist()!r} has {len(idx)} training films, fewer than the "
                             f"{num_processes} processes: each process needs at least one.")
        shares.append(idx[:len(idx) - len(idx) % num_processes][process_id::num_processes])
    return np.sort(np.concatenate(shares))


def process_batch_size(batch_size):
    """This process's share of a global batch of ``batch_size`` samples.

    Parameters
    ----------
    batch_size : int
        The global batch: samples per gradient step, over all processes.

    Returns
    -------
    int
        ``batch_size`` divided by the number of processes.

    Raises
    ------
    ValueError
        If ``batch_size`` is not a multiple of the number of processes.
    """
    n = process_count()
    if batch_size % n:
        raise ValueError(f"batch_size={batch_size} is the global batch, split evenly between the {n} processes: "
                         f"use a multiple of {n}.")
    return batch_size // n


def check_same_length(n_samples, what="training samples"):
    """Raise ValueError unless every process holds ``n_samples``: else they would step out of turn.

    Parameters
    ----------
    n_samples : int
        Samples this process feeds per epoch.
    what : str, default="training samples"
        What they are, for the message.
    """
    if process_count() == 1:
        return
    from jax.experimental import multihost_utils

    counts = multihost_utils.process_allgather(np.int64(n_samples))
    if len(set(counts.tolist())) > 1:
        raise ValueError(f"the processes hold different numbers of {what} ({counts.tolist()}, by process): "
                         "each must feed the same number of batches of the same size per epoch.")


def local_copy(model):
    """``model`` with its weights on this process's default device only, for work after the training.

    A data-parallel model's variables span the devices of every process, so that any
    computation with it needs all of them; process 0 alone then could not predict,
    choose a threshold or save. Build it under a distribution scope and call this after
    leaving the scope.

    Parameters
    ----------
    model : keras.Model
        Trained data-parallel.

    Returns
    -------
    keras.Model
        A clone holding the same weights, uncompiled; ``model`` itself in a single process.
    """
    if process_count() == 1:
        return model
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def shared_seed(seed):
    """``seed``, or when it is None one drawn by process 0: the same on every process.

    Parameters
    ----------
    seed : int or None
        This process's seed.

    Returns
    -------
    int or None
        ``seed`` when given or in a single process; else process 0's draw.
    """
    if seed is not None or process_count() == 1:
        return seed
    from jax.experimental import multihost_utils

    draw = np.int32(np.random.default_rng().integers(2**31 - 1))
    return int(multihost_utils.broadcast_one_to_all(draw))
