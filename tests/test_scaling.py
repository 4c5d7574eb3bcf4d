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


def test_devices_do_not_change_losses():
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, "1", "2", "4"],
        env=_env(4),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = _result(proc.stdout)
    assert len(result["1"]["losses"]) == 20
    _assert_same(result["1"], result["2"])
    _assert_same(result["1"], result["4"])


def test_batch_must_divide_by_devices():
    with pytest.raises(ValueError, match=r"`TrainConfig.batch` \(10\) must divide by `devices`"):
        zoo.TrainConfig(batch=10, devices=4)
    with pytest.raises(ValueError, match="must be an int >= 1"):
        zoo.TrainConfig(devices=0)


def test_too_many_devices():
    with pytest.raises(ValueError, match=r"`TrainConfig.devices` is 4096, but JAX sees only"):
        dist.make_mesh(4096, 4096)


def test_incomplete_environment(monkeypatch):
    monkeypatch.setenv("STDE_COORDINATOR", "127.0.0.1:1")
    monkeypatch.delenv("STDE_NUM_PROCESSES", raising=False)
    monkeypatch.setenv("STDE_PROCESS_ID", "0")
    with pytest.raises(ValueError, match="`STDE_NUM_PROCESSES` and `STDE_PROCESS_ID` must"):
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
