"""Data-parallel training through JAX's SPMD engine: the device mesh, and multi-host start.

One code path for every device count: the step is jitted over a `jax.sharding.Mesh` with
one axis `"data"`. Each step samples the *full* batch of collocation points (and their
estimator keys) from the same key whatever the number of devices or processes, then
shards it over `"data"` with `jax.lax.with_sharding_constraint`; parameters and
optimiser state are replicated, and XLA inserts the all-reduce of the mean loss and its
gradient. With `jax_threefry_partitionable` (JAX's default) each device generates only
its own rows of the same random stream, so a run on N devices sees the points of a run
on one and differs from it only in the order of float reductions.

Multi-host: run the same command in every process. Under a launcher that
`jax.distributed.initialize()` configures by itself (Slurm's `srun`, Open MPI's `mpirun`, a
Cloud TPU pod) nothing more is needed; elsewhere set `STDE_COORDINATOR` (`host:port` of
process 0), `STDE_NUM_PROCESSES` and `STDE_PROCESS_ID`. `zoo.train` calls
`maybe_initialize` before touching a device, the mesh spans the devices of all processes,
and only process 0 writes the run directory.
"""

import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "data"
_ENV = ("STDE_COORDINATOR", "STDE_NUM_PROCESSES", "STDE_PROCESS_ID")
# Launchers `jax.distributed.initialize()` detects and configures on its own (coordinator,
# process count and index), each with the variables JAX reads to detect it, the last one
# holding the number of processes started: a single process under them (`sbatch` without
# `srun`, a one-rank `mpirun`) stays a plain run.
_LAUNCHERS = {
    "Slurm": ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_PROCID", "SLURM_STEP_NUM_TASKS"),
    "Open MPI": ("OMPI_MCA_orte_hnp_uri", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
    "Cloud TPU (GKE)": ("TPU_WORKER_ID", "TPU_WORKER_HOSTNAMES"),
}


def detect_launcher(environ=os.environ) -> str | None:
    """The launcher (a `_LAUNCHERS` name) that started this process among several, or None."""
    for name, variables in _LAUNCHERS.items():
        if all(environ.get(v) for v in variables):
            count = environ[variables[-1]]
            if name.startswith("Cloud TPU"):  # A comma-separated list of hosts.
                count = str(len(count.split(",")))
            if count.isdigit() and int(count) > 1:
                return name
    return None


def maybe_initialize() -> bool:
    """Start JAX's distributed runtime when this process is one of several, once.

    In order: `STDE_DISTRIBUTED=0` never starts it; `STDE_COORDINATOR` (`host:port`) with
    `STDE_NUM_PROCESSES` and `STDE_PROCESS_ID` starts it explicitly; otherwise a launcher
    of several processes (Slurm `srun`, Open MPI `mpirun`, a GKE TPU slice: see
    `detect_launcher`), or `STDE_DISTRIBUTED=1` (e.g. on a Cloud TPU VM pod), starts it
    through `jax.distributed.initialize()`'s own cluster detection. Otherwise the run is
    one process. On CPU the collectives default to gloo (`STDE_CPU_COLLECTIVES`
    overrides), which multi-process CPU runs need.

    **Returns:** whether JAX runs distributed (now or from an earlier call).

    **Raises:** `ValueError` if the variables are incomplete or not integers, or if
    several processes were asked for (`STDE_DISTRIBUTED=1`, or `STDE_NUM_PROCESSES` or
    `STDE_PROCESS_ID` without `STDE_COORDINATOR`) but JAX detects no cluster.
    """
    if jax.distributed.is_initialized():
        return True
    mode = os.environ.get("STDE_DISTRIBUTED", "auto")
    if mode not in ("auto", "0", "1"):
        raise ValueError(f"`STDE_DISTRIBUTED` must be 0, 1 or auto, got {mode!r}.")
    if mode == "0":
        return False
    coordinator = os.environ.get("STDE_COORDINATOR")
    launcher = detect_launcher()
    if coordinator:
        try:
            args = (coordinator, int(os.environ["STDE_NUM_PROCESSES"]))
            args += (int(os.environ["STDE_PROCESS_ID"]),)
        except (KeyError, ValueError):
            raise ValueError(
                "`STDE_COORDINATOR` is set, so `STDE_NUM_PROCESSES` and `STDE_PROCESS_ID` "
                f"must be set to integers too; got { {k: os.environ.get(k) for k in _ENV} }."
            ) from None
    elif launcher or mode == "1":
        args = ()  # JAX reads the cluster's own variables (or the TPU metadata server).
    elif any(os.environ.get(k) for k in _ENV[1:]):
        raise ValueError(
            "`STDE_NUM_PROCESSES` or `STDE_PROCESS_ID` is set but `STDE_COORDINATOR` is not, "
            "and no launcher JAX detects (Slurm srun, Open MPI mpirun, Cloud TPU) started "
            "this process: set `STDE_COORDINATOR` to process 0's host:port."
        )
    else:
        return False
    # Only read by the CPU client, and only before it is created.
    jax.config.update(
        "jax_cpu_collectives_implementation", os.environ.get("STDE_CPU_COLLECTIVES", "gloo")
    )
    try:
        jax.distributed.initialize(*args)
    except ValueError as e:
        if args:
            raise
        # JAX found no cluster to read the processes from.
        raise ValueError(
            f"several processes were asked for ({launcher or 'STDE_DISTRIBUTED=1'}) but "
            f"`jax.distributed.initialize()` could not configure them ({e}): set "
            "`STDE_COORDINATOR`, `STDE_NUM_PROCESSES` and `STDE_PROCESS_ID`."
        ) from None
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
