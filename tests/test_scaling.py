"""Data-parallel training (`TrainConfig.devices`): the losses do not depend on the number
of devices or processes beyond float reduction order.

Each run is a subprocess, because the number of (forced host) devices and the distributed
runtime are fixed when JAX starts.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo import _distributed as dist

ROOT = Path(__file__).resolve().parent.parent

# Trains the tiny preset for every device count in argv and prints {count: losses} as JSON.
_SCRIPT = """
import json, sys
import zoo

counts = [None if c == "all" else int(c) for c in sys.argv[1:]]
result = {}
for n in counts:
    losses = []
    config = zoo.TrainConfig(steps=20, batch=8, n_test=64, devices=n, log_every=5,
                             eval_every=0)
    solver = zoo.train("allen-cahn-twobody", 8, config=config, model=zoo.ModelConfig(width=16),
                       progress=False, plots=False, callback=lambda s, l: losses.append(l))
    result[str(n)] = {"losses": losses, "rel_l2": solver.card["rel_l2"]}
print("RESULT " + json.dumps(result), flush=True)
"""


def _env(devices: int, **extra) -> dict:
    env = dict(os.environ)
    env.update(
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
        JAX_PLATFORMS="cpu",
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
        **extra,
    )
    return env


def _result(stdout: str) -> dict:
    line = next(x for x in stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def _assert_same(a: dict, b: dict) -> None:
    # float32: only the order of the batch reductions differs.
    np.testing.assert_allclose(a["losses"], b["losses"], rtol=1e-5)
    np.testing.assert_allclose(a["rel_l2"], b["rel_l2"], rtol=1e-5)


@pytest.mark.slow  # a fresh process compiling for 1 and 4 devices (~20 CPU-s); in CI (.ci/run)
def test_devices_do_not_change_losses():
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, "1", "4"],
        env=_env(4),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = _result(proc.stdout)
    assert len(result["1"]["losses"]) == 20
    _assert_same(result["1"], result["4"])


def test_batch_must_divide_by_devices():
    with pytest.raises(ValueError, match=r"`TrainConfig.batch` \(10\) must divide by `devices`"):
        zoo.TrainConfig(batch=10, devices=4)
    with pytest.raises(ValueError, match="must be an int >= 1"):
        zoo.TrainConfig(devices=0)


def test_too_many_devices():
    with pytest.raises(ValueError, match=r"`TrainConfig.devices` is 4096, but JAX sees only"):
        dist.make_mesh(4096, 4096)


def test_importing_zoo_starts_no_backend():
    # Multi-process runs call `jax.distributed.initialize` in `zoo.train`, which must come
    # before any backend starts: importing the package (its presets and pretrained
    # registry, which read the recipes) must not start one.
    code = (
        "from jax._src import xla_bridge\n"
        "import zoo\n"
        "zoo.get_preset('allen-cahn-threebody').recipe('best', 100)\n"
        "assert not xla_bridge.backends_are_initialized()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_incomplete_environment(monkeypatch):
    monkeypatch.setenv("STDE_COORDINATOR", "127.0.0.1:1")
    monkeypatch.delenv("STDE_NUM_PROCESSES", raising=False)
    monkeypatch.setenv("STDE_PROCESS_ID", "0")
    with pytest.raises(ValueError, match="`STDE_NUM_PROCESSES` and `STDE_PROCESS_ID` must"):
        dist.maybe_initialize()


@pytest.fixture
def starts(monkeypatch):
    """A clean launch environment, and the calls `maybe_initialize` makes to
    `jax.distributed.initialize` (recorded, not made)."""
    import jax

    for name in list(os.environ):
        if name.startswith(("STDE_", "SLURM_", "OMPI_", "TPU_")):
            monkeypatch.delenv(name)
    calls = []
    monkeypatch.setattr(jax.distributed, "is_initialized", lambda: False)
    monkeypatch.setattr(jax.distributed, "initialize", lambda *args: calls.append(args))
    monkeypatch.setattr(jax.config, "update", lambda *args: None)  # Collectives: gloo.
    return monkeypatch, calls


SLURM = dict(SLURM_JOB_ID="7", SLURM_STEP_NODELIST="n[1-2]", SLURM_PROCID="1")
LAUNCHES = {
    "Slurm": {**SLURM, "SLURM_STEP_NUM_TASKS": "2", "SLURM_NTASKS": "2", "SLURM_LOCALID": "0"},
    "Open MPI": dict(
        OMPI_MCA_orte_hnp_uri="1.0;tcp://10.0.0.1:3",
        OMPI_COMM_WORLD_RANK="0",
        OMPI_COMM_WORLD_SIZE="4",
    ),
    "Cloud TPU (GKE)": dict(TPU_WORKER_ID="0", TPU_WORKER_HOSTNAMES="h0,h1"),
}


@pytest.mark.parametrize("launcher", LAUNCHES)
def test_a_launcher_of_several_processes_starts_jax_detection(starts, launcher):
    monkeypatch, calls = starts
    for name, value in LAUNCHES[launcher].items():
        monkeypatch.setenv(name, value)
    assert dist.detect_launcher() == launcher
    assert dist.maybe_initialize() and calls == [()]  # JAX reads the cluster itself.


def test_our_variables_are_explicit_and_win(starts):
    monkeypatch, calls = starts
    for name, value in LAUNCHES["Slurm"].items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("STDE_COORDINATOR", "host0:1234")
    monkeypatch.setenv("STDE_NUM_PROCESSES", "2")
    monkeypatch.setenv("STDE_PROCESS_ID", "1")
    assert dist.maybe_initialize() and calls == [("host0:1234", 2, 1)]


def test_one_process_stays_a_plain_run(starts):
    monkeypatch, calls = starts
    assert not dist.maybe_initialize()  # No launcher, no variables.
    for name, value in {**SLURM, "SLURM_STEP_NUM_TASKS": "1"}.items():
        monkeypatch.setenv(name, value)
    assert dist.detect_launcher() is None and not dist.maybe_initialize()
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "2")
    monkeypatch.setenv("STDE_DISTRIBUTED", "0")  # Opted out.
    assert not dist.maybe_initialize() and calls == []


def test_several_processes_asked_for_but_no_cluster(starts):
    monkeypatch, calls = starts
    monkeypatch.setenv("STDE_NUM_PROCESSES", "2")
    with pytest.raises(ValueError, match="`STDE_COORDINATOR` is not, and no launcher JAX"):
        dist.maybe_initialize()
    monkeypatch.delenv("STDE_NUM_PROCESSES")
    monkeypatch.setenv("STDE_DISTRIBUTED", "1")

    def no_cluster(*args):  # What JAX raises when it detects nothing.
        raise ValueError("coordinator_address should be defined.")

    import jax

    monkeypatch.setattr(jax.distributed, "initialize", no_cluster)
    with pytest.raises(ValueError, match=r"STDE_DISTRIBUTED=1\) but `jax.distributed.initial"):
        dist.maybe_initialize()
    monkeypatch.setenv("STDE_DISTRIBUTED", "yes")
    with pytest.raises(ValueError, match="`STDE_DISTRIBUTED` must be 0, 1 or auto"):
        dist.maybe_initialize()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_match_one():
    """Two processes on loopback (one CPU device each, gloo collectives) train exactly
    what one process on two devices trains."""
    single = subprocess.run(
        [sys.executable, "-c", _SCRIPT, "2"],
        env=_env(2),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert single.returncode == 0, single.stderr[-3000:]
    coordinator = f"127.0.0.1:{_free_port()}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _SCRIPT, "all"],
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(
                1, STDE_COORDINATOR=coordinator, STDE_NUM_PROCESSES="2", STDE_PROCESS_ID=str(i)
            ),
        )
        for i in range(2)
    ]
    outputs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=600)
            assert p.returncode == 0, err[-3000:]
            outputs.append(_result(out)["None"])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    expected = _result(single.stdout)["2"]
    for got in outputs:
        _assert_same(expected, got)
