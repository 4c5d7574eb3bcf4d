"""Run directories that cannot be corrupted, files that cannot pass as shipped solvers
(tracker issue 17): one test (at least) per numbered item, named `test_item<k>_...`.

Tiny runs (d = 4, width 8, a few steps) keep the default set fast; the tests with
several real processes are marked slow (`test_item1_two_concurrent_trainers_...` is in
the CI slow set).
"""

import errno
import json
import math
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import ROOT, TINY_RUN_FLAGS

import models
import pdes
import stde
import zoo
from zoo import _checkpoint as ckpt, _cli as cli, _solver, _trainer
from zoo._trainer import FinishedRunWarning

# Under `-n N --dist loadgroup` the modules that train tiny runs (test_api_overrides, test_cli,
# test_hardening, test_reliability, test_trainer_loop, test_zoo) run on one worker: each
# module-scoped run is built once, and equal training configurations share a compilation.
pytestmark = pytest.mark.xdist_group("tiny-runs")

PRESET = "allen-cahn-twobody"
DIM = 4
MODEL = zoo.ModelConfig(width=8, depth=2)
CONFIG = zoo.TrainConfig(
    steps=6, batch=8, num_samples=2, log_every=1, eval_every=3, checkpoint_every=2, n_test=32
)
TINY = [
    PRESET,
    *TINY_RUN_FLAGS,
    "--n-test",
    "32",
    "--log-every",
    "1",
    "--no-progress",
    "--no-plots",
]


def _train(out, config=CONFIG, **kwargs):
    kwargs.setdefault("plots", False)
    return zoo.train(PRESET, DIM, config=config, model=MODEL, out=out, progress=False, **kwargs)


def _steps(out) -> list[int]:
    return [r["step"] for r in zoo.read_metrics(out) if "event" not in r]


def _main(capsys, *args):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished tiny run (copied by tests that change it)."""
    out = tmp_path_factory.mktemp("rel") / "run"
    solver = _train(out)
    return out, solver


def _copy(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest)
    return dest


# --- 1. one writer per run directory ----------------------------------------------------


def _holder(run_dir: Path) -> subprocess.Popen:
    """A real second process holding the run directory's lock (as a running trainer)."""
    code = (
        "import sys, time; from pathlib import Path; import zoo._checkpoint as c; "
        "c.lock_run_dir(Path(sys.argv[1])); print('locked', flush=True); time.sleep(120)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(run_dir)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_item1_a_locked_run_directory_refuses_a_second_writer(finished, tmp_path):
    out = _copy(finished[0], tmp_path / "run")
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.name != ckpt.LOCK}
    holder = _holder(out)
    try:
        pattern = rf"`{out}` is in use by another run \(pid {holder.pid} on "
        with pytest.raises(ValueError, match=pattern):
            _train(out, overwrite=True)
        with pytest.raises(ValueError, match=pattern):
            zoo.resume(out, steps=8, progress=False, plots=False)
    finally:
        holder.kill()
        holder.wait()
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.name != ckpt.LOCK}
    assert after == before, "a refused writer touches nothing"
    # The lock went with the process: the run resumes now.
    assert zoo.resume(out, steps=8, progress=False, plots=False).card["steps"] == 8


@pytest.mark.slow
def test_item1_two_concurrent_trainers_on_one_out(tmp_path):
    """Two real `python -m zoo train --out D` at once: the second exits non-zero with one
    line; the first run's files are intact (its learning rate, its steps once each).
    Then two `--resume D` at once: the same."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}

    def start(*args):
        return subprocess.Popen(
            [sys.executable, "-m", "zoo", "train", *map(str, args)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    common = [*TINY, "--eval-every", "0", "--checkpoint-every", "50", "--out", out]
    first = start(*common, "--steps", "400", "--lr", "0.002")
    deadline = time.time() + 240
    while time.time() < deadline and not zoo.read_metrics(out):
        time.sleep(0.2)
    assert zoo.read_metrics(out), "the first trainer never started"
    second = start(*common, "--steps", "400", "--lr", "0.5", "--overwrite")
    _, err = second.communicate(timeout=240)
    assert second.returncode == 1, err
    line = _one_line(err)
    assert f"is in use by another run (pid {first.pid} on" in line, line
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert json.loads((out / "config.json").read_text())["train"]["lr"] == 0.002
    header = models.read_header(out / "checkpoint.eqx")["metadata"]
    assert header["train"]["lr"] == 0.002 and header["step"] == 400
    assert _steps(out) == list(range(1, 401))

    a = start("--resume", out, "--steps", "800", "--no-progress", "--no-plots")
    while time.time() < deadline + 300 and len(zoo.read_metrics(out)) <= 400:
        time.sleep(0.2)
    b = start("--resume", out, "--steps", "800", "--no-progress", "--no-plots")
    _, err = b.communicate(timeout=240)
    assert b.returncode == 1 and "is in use by another run" in _one_line(err), err
    _, err = a.communicate(timeout=600)
    assert a.returncode == 0, err
    assert _steps(out) == list(range(1, 801)), "no step twice, none missing"


# --- 2. config.json must match the checkpoint --------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        (("pde", "name"), "poisson-twobody"),
        (("pde", "seed"), 3),
        (("model", "activation"), "sin"),
        (("train", "estimator"), "dense"),
        (("train", "lr"), 0.01),
        # A nested field against None: their dotted leaves never meet.
        (("train", "warmup"), {"steps": 2}),
    ],
)
def test_item2_resume_refuses_an_edited_config(finished, tmp_path, field, value):
    out = _copy(finished[0], tmp_path / "run")
    data = json.loads((out / "config.json").read_text())
    data[field[0]][field[1]] = value
    (out / "config.json").write_text(json.dumps(data))
    name = ".".join(field)
    with pytest.raises(ValueError, match=rf"does not match the configuration .*{name}: "):
        zoo.resume(out, steps=8, progress=False, plots=False)
    assert zoo.load(finished[0]).card["steps"] == 6  # The original is untouched.
    if field != ("train", "lr"):  # lr does not change the model: loading refuses the rest.
        with pytest.raises(ValueError, match=name):
            zoo.load(out)


# --- 3. a way forward after a divergence ----------------------------------------------


def test_item3_resume_with_a_new_lr_after_a_divergence(tmp_path, capsys):
    out = tmp_path / "run"
    bad = CONFIG.replace(lr=1e30, schedule="constant", steps=8)
    with pytest.raises(zoo.NonFiniteLossError, match=rf"--resume {out} --lr LR --rollbacks N"):
        _train(out, config=bad)
    code, _, err = _main(
        capsys,
        "train",
        "--resume",
        out,
        "--lr",
        "0.001",
        "--rollbacks",
        "2",
        "--no-progress",
        "--no-plots",
    )
    assert code == 0, err
    config = json.loads((out / "config.json").read_text())["train"]
    assert config["lr"] == 0.001 and config["rollbacks"] == 2
    events = [r for r in zoo.read_metrics(out) if r.get("event") == "resume"]
    assert events and events[-1]["changes"] == {"lr": [1e30, 0.001], "rollbacks": [0, 2]}
    assert _steps(out)[-1] == 8 and zoo.load(out).card["steps"] == 8


def test_item3_a_nan_forcing_at_step_1_blames_the_forcing():
    pde = pdes.CustomPDE(2, stde.Laplacian(), forcing=lambda x: jnp.nan * x[0], exact_solution=None)
    with pytest.raises(zoo.NonFiniteLossError) as info:
        zoo.train(pde, config=CONFIG.replace(n_test=8), model=MODEL, progress=False)
    message = str(info.value)
    assert "at step 1, on the initial parameters" in message
    assert "the learning rate is not the cause" in message and "forcing" in message
    assert "smaller `lr`" not in message


# --- 4. SIGINT during an evaluation, and SIGTERM ----------------------------------------


def test_item4_sigint_during_an_evaluation_keeps_every_record(finished, tmp_path, monkeypatch):
    out = tmp_path / "run"
    evaluate = _trainer._evaluate

    def interrupted(run, cache):
        if run.model is not None and not hasattr(interrupted, "done"):
            interrupted.done = True
            os.kill(os.getpid(), signal.SIGINT)  # A real signal, through the handler.
            time.sleep(1)
        return evaluate(run, cache)

    monkeypatch.setattr(_trainer, "_evaluate", interrupted)
    with pytest.raises(KeyboardInterrupt, match="interrupted at step 2"):
        _train(out)
    monkeypatch.undo()
    zoo.resume(out, progress=False, plots=False)
    assert _steps(out) == _steps(finished[0]) == [1, 2, 3, 4, 5, 6]
    assert [r.get("rel_l2") for r in zoo.read_metrics(out)] == [
        r.get("rel_l2") for r in zoo.read_metrics(finished[0])
    ]


def test_item4_sigterm_is_handled_like_sigint(finished, tmp_path):
    out = tmp_path / "run"

    def terminate(step, loss):
        if step == 3:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)

    with pytest.raises(_trainer.Terminated, match="interrupted at step 3; checkpoint saved"):
        _train(out, callback=terminate)
    assert models.read_header(out / "checkpoint.eqx")["metadata"]["step"] == 3
    solver = zoo.resume(out, progress=False, plots=False)
    assert _steps(out) == [1, 2, 3, 4, 5, 6]
    assert solver.card["rel_l2"] == finished[1].card["rel_l2"]


@pytest.mark.slow
def test_item4_sigterm_to_the_command_line_exits_143(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "zoo", "train", *TINY, "--steps", "100000", "--out", str(out)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 240
    while time.time() < deadline and len(zoo.read_metrics(out)) < 5:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "interrupted at step" in err and "Traceback" not in err
    step = models.read_header(out / "checkpoint.eqx")["metadata"]["step"]
    assert step >= 5 and _steps(out) == list(range(1, step + 1))


# --- 5. a damaged line of metrics.jsonl ----------------------------------------------


def test_item5_a_damaged_metrics_line_is_set_aside_not_the_rest(finished, tmp_path):
    out = tmp_path / "run"
    _train(out, until=4)
    lines = (out / "metrics.jsonl").read_text().splitlines(keepends=True)
    lines[1] = '{"step": 2, "loss": 0.3' + "\n"  # Damaged in the middle.
    (out / "metrics.jsonl").write_text("".join(lines))
    with pytest.warns(ckpt.MetricsWarning, match="1 line.* moved to .*metrics.rejected.jsonl"):
        zoo.resume(out, progress=False, plots=False)
    assert _steps(out) == [1, 3, 4, 5, 6], "every valid record after the bad line is kept"
    assert (out / "metrics.rejected.jsonl").read_text() == lines[1]


# --- 6. exit status and OSErrors on the command line ---------------------------------


def test_item6_a_run_lost_everywhere_exits_non_zero(tmp_path, monkeypatch, capsys):
    import tempfile

    out = tmp_path / "run"
    train = _trainer.train

    def break_dir(step, loss):
        if step == 3:
            shutil.rmtree(out)
            out.write_text("no longer a directory")

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_trainer, "train", lambda *a, **k: train(*a, **k, callback=break_dir))
    monkeypatch.setattr(tempfile, "mkdtemp", no_space)
    code, _, err = _main(capsys, "train", *TINY, "--steps", "6", "--out", out)
    assert code == 1, err
    assert "could not be written anywhere" in err


@pytest.mark.parametrize("kind", ["erofs", "parent-is-a-file"])
def test_item6_os_errors_are_one_line(tmp_path, monkeypatch, capsys, kind):
    if kind == "erofs":
        out = tmp_path / "ro" / "run"

        def read_only(self, *args, **kwargs):
            raise OSError(errno.EROFS, "Read-only file system", str(self))

        monkeypatch.setattr(Path, "mkdir", read_only)
    else:
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "run"
    code, _, err = _main(capsys, "train", *TINY, "--steps", "2", "--out", out)
    assert code == 1
    line = _one_line(err)
    assert ("Read-only file system" if kind == "erofs" else "Not a directory") in line


# --- 7. an empty output directory ----------------------------------------------------


def test_item7_an_empty_out_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoint.eqx").write_text("keep me")
    for overwrite in (False, True):
        with pytest.raises(ValueError, match="`out` is empty"):
            _train("", overwrite=overwrite)
    code, _, err = _main(capsys, "train", *TINY, "--out", "", "--overwrite")
    assert code == 2 and "expected a directory, got an empty string" in _one_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.eqx"]
    assert (tmp_path / "checkpoint.eqx").read_text() == "keep me"


# --- 8. validation before creation; finished runs -------------------------------------


def test_item8_failed_validation_creates_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    n = len(jax.devices()) + 3
    with pytest.raises(ValueError, match="`TrainConfig.devices` is"):
        _train(out, config=CONFIG.replace(devices=n, batch=8 * n))
    assert not out.exists()
    code, _, err = _main(capsys, "train", *TINY, "--devices", n, "--batch", 8 * n, "--out", out)
    assert code == 1 and "devices" in _one_line(err) and not out.exists()
    # A directory left with only config.json (as an older version did) trains.
    out.mkdir()
    (out / "config.json").write_text("{}")
    assert _train(out).card["steps"] == 6


def test_item8_a_finished_run_says_so_and_is_not_shortened(finished, tmp_path, capsys):
    out = _copy(finished[0], tmp_path / "run")
    config = (out / "config.json").read_bytes()
    with pytest.warns(FinishedRunWarning, match=r"is finished \(6 of 6 steps\).*--steps N"):
        zoo.resume(out, progress=False, plots=False)
    code, _, err = _main(capsys, "train", "--resume", out, "--no-progress")
    assert code == 0 and "is finished (6 of 6 steps): nothing to do" in _one_line(err)
    code, _, err = _main(capsys, "train", "--resume", out, "--steps", "3", "--no-progress")
    assert code == 1 and "`steps` must be more than the checkpoint's step 6" in _one_line(err)
    assert (out / "config.json").read_bytes() == config
    assert _steps(out) == [1, 2, 3, 4, 5, 6]


# --- 9. temporary files, fsync, JSON, permissions -------------------------------------


def test_item9_leftover_temp_files_are_removed_on_resume(tmp_path):
    out = tmp_path / "run"
    _train(out, until=2)
    leftover = out / ".checkpoint.eqx.abc123.tmp"
    leftover.write_bytes(b"half a checkpoint")
    (out / ".metrics.jsonl.x.tmp").write_bytes(b"")
    mine = out / "notes.tmp"
    mine.write_text("not ours")
    zoo.resume(out, progress=False, plots=False)
    assert not leftover.exists() and not (out / ".metrics.jsonl.x.tmp").exists()
    assert mine.exists(), "only the run's own temporary files are removed"


def test_item9_the_directory_is_fsynced_after_the_rename(tmp_path, monkeypatch):
    from models import _serialisation as ser

    calls = []
    monkeypatch.setattr(
        ser, "fsync_directory", lambda d: calls.append((d, (tmp_path / "f").exists()))
    )
    ser.write_bytes_atomic(tmp_path / "f", b"x")
    assert calls == [(str(tmp_path), True)], "fsync of the directory, after the rename"


def test_item9_non_finite_metrics_are_json_null(tmp_path):
    log = ckpt.MetricsLog(tmp_path)
    log.append({"step": 1, "loss": 0.5, "rel_l2": math.inf, "linf": math.nan})
    text = (tmp_path / "metrics.jsonl").read_text()
    assert "Infinity" not in text and "NaN" not in text
    assert json.loads(text) == {"step": 1, "loss": 0.5, "rel_l2": None, "linf": None}
    ckpt.write_json_atomic(tmp_path / "s.json", {"a": -math.inf})
    assert json.loads((tmp_path / "s.json").read_text(), parse_constant=pytest.fail) == {"a": None}


def test_item9_run_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        _train(tmp_path / "run")
    finally:
        os.umask(old)
    for name in ("config.json", "metrics.jsonl", "checkpoint.eqx", "summary.json"):
        mode = stat.S_IMODE((tmp_path / "run" / name).stat().st_mode)
        assert mode == 0o644, (name, oct(mode))


# --- 10. only shipped names load as shipped ---------------------------------------------


def test_item10_only_the_registry_loads_as_shipped(finished, tmp_path, monkeypatch):
    # A foreign card and weights outside the package, reached by a relative path, an
    # absolute path, or a file path.
    foreign = tmp_path / "evil"
    foreign.mkdir()
    _solver.export_pretrained(finished[0], "x", foreign)
    card = json.loads((foreign / "x.json").read_text())
    card["rel_l2"] = 1e-9  # The claimed error.
    (foreign / "x.json").write_text(json.dumps(card))
    relative = os.path.relpath(foreign / "x", _solver.PRETRAINED_DIR)
    for name in (relative, str(foreign / "x"), str(foreign / "x.eqx")):
        with pytest.raises(ValueError):
            zoo.load(name)
    # Loading your own file is explicit, and never labelled as shipped or with its claims.
    mine = zoo.load_file(foreign / "x.eqx")
    assert mine.card["shipped"] is False and "rel_l2" not in mine.card
    assert zoo.load(zoo.pretrained_names()[0]).card["shipped"] is True
    # The hashes are the package's: a card edited beside its weights is refused.
    shipped = tmp_path / "pretrained"
    shutil.copytree(_solver.PRETRAINED_DIR, shipped)
    monkeypatch.setattr(_solver, "PRETRAINED_DIR", shipped)
    name = "allen-cahn-twobody-d100"
    card = json.loads((shipped / f"{name}.json").read_text())
    card["rel_l2"] = 1e-9
    (shipped / f"{name}.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="does not match the sha256 of its model card held"):
        zoo.load(name)


# --- 11. bounded allocation before the header is validated ---------------------------


def _forge(path: Path, change) -> None:
    """Rewrite the header of `path` through `change(header)`, with a valid header hash
    (as a careful forger would)."""
    from models._serialisation import _header_hash

    line, payload = path.read_bytes().split(b"\n", 1)
    header = json.loads(line)
    change(header)
    header.pop("header_sha256", None)
    header["header_sha256"] = _header_hash(header)
    path.write_bytes(json.dumps(header).encode() + b"\n" + payload)


def test_item11_a_forged_header_allocates_nothing_of_its_declared_size(finished, tmp_path):
    out = _copy(finished[0], tmp_path / "run")
    # Config and checkpoint metadata agree on width 60 000 (14 GB of parameters); the
    # file holds the width-8 model.
    for path in (out / "config.json",):
        data = json.loads(path.read_text())
        data["model"]["width"] = 60_000
        path.write_text(json.dumps(data))
    _forge(out / "checkpoint.eqx", lambda h: h["metadata"]["model"].update(width=60_000))
    tracemalloc.start()
    t = time.perf_counter()
    try:
        with pytest.raises(ValueError, match="does not hold the model its configuration"):
            zoo.load(out)
        with pytest.raises(ValueError, match="does not hold the model its configuration"):
            zoo.resume(out, progress=False, plots=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, peak
    assert time.perf_counter() - t < 60
    # A header that declares a leaf of 4 TB: refused from the file's size.
    _forge(
        out / "checkpoint.eqx", lambda h: h["leaves"].__setitem__(0, [[10**6, 10**6], "float32"])
    )
    with pytest.raises(ValueError, match=r"declares \d{13} bytes of parameters, but the file"):
        models.load(out / "checkpoint.eqx")


def test_item11_read_header_is_a_bounded_read(tmp_path):
    big = tmp_path / "big.eqx"
    with open(big, "wb") as f:
        f.truncate(8 << 30)  # 8 GB of zeros (sparse): no newline anywhere.
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="not a stde-zoo model file"):
            models.read_header(big)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * models._serialisation.MAX_HEADER_BYTES, peak
    with pytest.raises(ValueError, match="not a regular file"):
        models.read_header("/dev/zero")


# --- 12. the header is covered and checked ----------------------------------------------


def test_item12_header_tampering_and_malformed_headers(finished, tmp_path):
    out = _copy(finished[0], tmp_path / "run")
    path = out / "checkpoint.eqx"
    original = path.read_bytes()
    line, payload = original.split(b"\n", 1)
    header = json.loads(line)
    header["metadata"]["step"] = -4  # Without updating the hash.
    path.write_bytes(json.dumps(header).encode() + b"\n" + payload)
    with pytest.raises(ValueError, match="header's sha256 does not match"):
        zoo.resume(out, progress=False, plots=False)
    _forge(path, lambda h: h["metadata"].update(step=-4))
    with pytest.raises(ValueError, match=r"`step` must be an int >= 0, got -4"):
        zoo.resume(out, progress=False, plots=False)
    assert _steps(out) == [1, 2, 3, 4, 5, 6]
    # NaN weights (payload hash recomputed by the forger) are refused on load.
    net = models.MLP(2, 4, 2, key=jax.random.PRNGKey(0))
    models.save(tmp_path / "m.eqx", net)
    import io

    import equinox as eqx

    bad = jax.tree_util.tree_map(lambda a: a.at[0].set(jnp.nan), net)
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, bad)
    data = buffer.getvalue()

    def nan_payload(h):
        import hashlib

        h["payload_sha256"] = hashlib.sha256(data).hexdigest()

    line = (tmp_path / "m.eqx").read_bytes().split(b"\n", 1)[0]
    (tmp_path / "m.eqx").write_bytes(line + b"\n" + data)
    _forge(tmp_path / "m.eqx", nan_payload)
    with pytest.raises(ValueError, match="holds non-finite values"):
        models.load(tmp_path / "m.eqx")


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda h: h.update(leaves=5), r"`leaves` is int"),
        (lambda h: h.update(metadata=[1]), r"`metadata` is list"),
        (lambda h: h.update(spec=[1]), r"`spec` is list"),
        (lambda h: h.update(payload_bytes="10"), r"`payload_bytes` is str"),
        (lambda h: h["leaves"].__setitem__(0, [[-1], "float32"]), r"a leaf is"),
        (lambda h: h["leaves"].__setitem__(0, [[2], "no-such-dtype"]), r"unknown dtype"),
    ],
)
def test_item12_malformed_headers_are_value_errors(tmp_path, change, match):
    path = tmp_path / "m.eqx"
    models.save(path, models.MLP(2, 4, 2, key=jax.random.PRNGKey(0)))
    _forge(path, change)
    with pytest.raises(ValueError, match=match):
        models.load(path)


def test_item12_deep_and_foreign_json(tmp_path, finished, monkeypatch):
    path = tmp_path / "deep.eqx"
    path.write_bytes(b"[" * 200_000 + b"]" * 200_000 + b"\n")
    with pytest.raises(ValueError, match="nested too deeply"):
        models.read_header(path)
    out = _copy(finished[0], tmp_path / "run")
    (out / "config.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(ValueError, match="config.json` is damaged"):
        zoo.load(out)
    (out / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="config.json` is damaged"):
        zoo.load(out)
    # A model card that is a JSON list, registered (so that its hash matches).
    shipped = tmp_path / "pretrained"
    shipped.mkdir()
    shutil.copy(_solver.PRETRAINED_DIR / "kdv-1d-d1.eqx", shipped)
    (shipped / "kdv-1d-d1.json").write_text("[1]")
    _solver._register(shipped, "kdv-1d-d1")
    monkeypatch.setattr(_solver, "PRETRAINED_DIR", shipped)
    with pytest.raises(ValueError, match="a model card is a JSON object"):
        zoo.load("kdv-1d-d1")


# --- 13. stde.estimate refuses what it would get wrong -----------------------------------


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda x: stde.estimate(stde.Laplacian(), lambda y: jnp.sum(y) * (1 + 1j), x), "complex"),
        (lambda x: stde.estimate(stde.Laplacian(), lambda y: jnp.sum(y > 0), x), "int"),
        (lambda x: stde.estimate(stde.Laplacian(), lambda y: jnp.any(y > 0), x), "bool"),
        (
            lambda x: stde.estimate(
                stde.DiagonalDerivative(2, lambda y: y * 1j), lambda y: jnp.sum(y**3), x
            ),
            "must give real numbers, got dtype complex",
        ),
        (lambda x: stde.Laplacian() * float("nan"), "finite real number, got nan"),
        (lambda x: stde.Laplacian() * np.inf, "finite real number, got inf"),
    ],
)
def test_item13_estimate_refuses_what_it_would_get_wrong(call, match):
    with pytest.raises(ValueError, match=match):
        call(jnp.linspace(0.1, 0.3, 3))


# --- 14. zoo.evaluate's counts and non-finite truths --------------------------------------


def test_item14_evaluate_counts_and_a_nan_solution(finished):
    solver = finished[1]
    for bad in (-3, 0, np.int64(-1)):
        with pytest.raises(ValueError, match="`batch_size` must be an int >= 1"):
            zoo.evaluate(solver, 16, batch_size=bad)
    reference = zoo.evaluate(solver, 16, batch_size=4)
    assert zoo.evaluate(solver, np.int64(16), batch_size=np.int32(4)) == reference
    assert zoo.evaluate(solver, np.float64(16.0)) == zoo.evaluate(solver, 16)
    broken = pdes.CustomPDE(
        DIM, stde.Laplacian(), exact_solution=lambda x: jnp.nan * jnp.sum(x), name="nan-truth"
    )
    nan_solver = zoo.Solver(solver.model, broken, None, {})
    with pytest.raises(ValueError, match="solution of `nan-truth` is not finite"):
        zoo.evaluate(nan_solver, 8)


# --- 15. the KdV reference inside a trace ---------------------------------------------


@pytest.mark.slow
def test_item15_kdv_reference_under_jit_grad_with_a_cold_cache(tmp_path):
    code = (
        "import jax, jax.numpy as jnp, pdes; "
        "pde = pdes.get('kdv-1d', params={'resolution': 32}); "
        "g = jax.jit(jax.grad(pde.reference_solution))(jnp.array([0.1, 0.5])); "
        "assert bool(jnp.all(jnp.isfinite(g))), g; print('ok')"
    )
    env_cache = tmp_path / "cache"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "JAX_PLATFORMS": "cpu",
            "STDE_ZOO_CACHE": str(env_cache),
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-3000:]


# --- 16. arguments that would be ignored ------------------------------------------------


def test_item16_ignored_arguments_are_refused(finished):
    with pytest.raises(ValueError, match="`dim` is only for a preset name"):
        zoo.load("allen-cahn-twobody-d1000", dim=100)
    with pytest.raises(ValueError, match="`dim` is only for a preset name"):
        zoo.load(finished[0], dim=100)
    with pytest.raises(ValueError, match="`pde` is only for run directories"):
        zoo.load("allen-cahn-twobody-d100", pde=pdes.get(PRESET, dim=100))
    with pytest.raises(ValueError, match="`pde` is not the PDE of"):
        zoo.load(finished[0], pde=pdes.get(PRESET, dim=DIM, seed=5))
    pde = pdes.get(PRESET, dim=DIM)
    for kwargs in ({"dim": 5}, {"pde_seed": 1}):
        with pytest.raises(ValueError, match="must be None when `problem` is a PDE"):
            zoo.train(pde, config=CONFIG, model=MODEL, progress=False, **kwargs)
    with pytest.raises(ValueError, match="`pde_seed` is only for a preset name"):
        zoo.finetune(finished[1], pde, pde_seed=3, progress=False)


def test_every_item_of_the_reliability_table_is_tested():
    """tests/BAD_INPUT.md lists items 1-16, each with tests that exist here."""
    text = (Path(__file__).parent / "BAD_INPUT.md").read_text()
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) == 4 and cells[0].isdigit():
            rows[int(cells[0])] = re.findall(r"`(test_\w+)`", cells[3])
    assert sorted(rows) == list(range(1, 17)), sorted(rows)
    here = globals()
    for item, names in rows.items():
        assert names, item
        for name in names:
            assert name in here and name.startswith(f"test_item{item}_"), (item, name)
