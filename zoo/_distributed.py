"""Data-parallel training through JAX's SPMD engine: the device mesh, and multi-host start.

One code path for every device count: the step is jitted over a `jax.sharding.Mesh` with
one axis `"data"`. Each step samples the *full* batch of collocation points (and their
estimator keys) from the same key whatever the number of devices or processes, then
shards it over `"data"` with `jax.lax.with_sharding_constraint`; parameters and
optimiser state are replicated, and XLA inserts the all-reduce of the mean loss and its
gradient. With `jax_threefry_partitionable` (JAX's default) each device generates only
its own rows of the same random stream, so a run on N devices sees the points of a run
on one and differs from it only in the order of float reductions.

Multi-host: set `STDE_COORDINATOR` (`host:port` of process 0), `STDE_NUM_PROCESSES` and
`STDE_PROCESS_ID` in every process; `zoo.train` then calls `jax.distributed.initialize`
before touching a device, the mesh spans the devices of all processes, and only process 0
writes the run directory.
"""

import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "data"
_ENV = ("STDE_COORDINATOR", "STDE_NUM_PROCESSES", "STDE_PROCESS_ID")


def maybe_initialize() -> bool:
    """Call `jax.distributed.initialize` from the `STDE_*` environment, once.

    Reads `STDE_COORDINATOR` (`host:port`), `STDE_NUM_PROCESSES` and `STDE_PROCESS_ID`;
    without `STDE_COORDINATOR` this does nothing (one process). On CPU the collectives
    default to gloo (`STDE_CPU_COLLECTIVES` overrides), which multi-process CPU runs need.

    **Returns:** whether JAX runs distributed (now or from an earlier call).

    **Raises:** `ValueError` if the variables are incomplete or not integers.
    """
    if jax.distributed.is_initialized():
        return True
    coordinator = os.environ.get("STDE_COORDINATOR")
    if not coordinator:
        return False
    try:
        num_processes = int(os.environ["STDE_NUM_PROCESSES"])
        process_id = int(os.environ["STDE_PROCESS_ID"])
    except (KeyError, ValueError):
        raise ValueError(
            "`STDE_COORDINATOR` is set, so `STDE_NUM_PROCESSES` and `STDE_PROCESS_ID` must "
            f"be set to integers too; got { {k: os.environ.get(k) for k in _ENV} }."
        ) from None
    # Only read by the CPU client, and only before it is created.
    jax.config.update(
        "jax_cpu_collectives_implementation", os.environ.get("STDE_CPU_COLLECTIVES", "gloo")
    )
    jax.distributed.initialize(coordinator, num_processes, process_id)
    return True


def make_mesh(devices: int | None, batch: int) -> Mesh:
    """A one-axis (`"data"`) mesh over the first `devices` devices (None: all of them).

    **Raises:** `ValueError` if there are fewer devices, if several processes do not use
    every device, or if `batch` does not divide by the number of devices.
    """
    available = jax.devices()
    n = len(available) if devices is None else devices
    if n > len(available):
        raise ValueError(
            f"`TrainConfig.devices` is {n}, but JAX sees only {len(available)} device(s) "
            f"({available[0].platform}); lower `devices` or pass None for all."
        )
    if jax.process_count() > 1 and n != len(available):
        raise ValueError(
            f"`TrainConfig.devices` is {n}, but a run over {jax.process_count()} processes "
            f"uses all {len(available)} devices: pass `devices=None`."
        )
    if batch % n:
        raise ValueError(
            f"`TrainConfig.batch` ({batch}) must divide by the number of devices ({n}) to "
            f"shard the collocation points: use a batch of {n * -(-batch // n)} or "
            "change `devices`."
        )
    return Mesh(np.array(available[:n]), (AXIS,))


def shard_batch(tree, mesh: Mesh):
    """Inside jit: shard the leading (batch) axis of every array over `"data"`."""
    return jax.lax.with_sharding_constraint(tree, NamedSharding(mesh, PartitionSpec(AXIS)))


def replicate_constraint(tree, mesh: Mesh):
    """Inside jit: keep every array replicated over the mesh."""
    return jax.lax.with_sharding_constraint(tree, NamedSharding(mesh, PartitionSpec()))


def replicate(tree, mesh: Mesh):
    """Outside jit: place every array of `tree` replicated on the mesh (a global array
    when several processes run; each process holds the same values)."""
    sharding = NamedSharding(mesh, PartitionSpec())

    def put(x):
        if not isinstance(x, jax.Array | np.ndarray):
            return x
        if isinstance(x, jax.Array) and x.sharding == sharding:
            return x
        if jax.process_count() == 1:
            return jax.device_put(x, sharding)
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(put, tree)


def localize(tree):
    """Replicated arrays back to ordinary single-device arrays (for evaluation, saving and
    the returned solver, which run outside the mesh)."""

    def get(x):
        if not isinstance(x, jax.Array) or len(x.sharding.device_set) == 1:
            return x
        return jax.numpy.asarray(np.asarray(x))

    return jax.tree.map(get, tree)
