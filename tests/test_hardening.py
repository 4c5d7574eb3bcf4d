"""Faults during checkpoint writes, and determinism across fresh processes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import models
import zoo

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "allen-cahn-twobody",
    "--dim",
    "4",
    "--steps",
    "6",
    "--batch",
    "8",
    "--num-samples",
    "2",
    "--width",
    "8",
    "--depth",
    "2",
    "--log-every",
    "2",
    "--eval-every",
    "6",
    "--checkpoint-every",
    "3",
    "--n-test",
    "64",
    "--no-progress",
    "--no-plots",
]


def test_crash_during_a_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    config = zoo.TrainConfig(
        steps=6, batch=8, num_samples=2, log_every=2, eval_every=6, checkpoint_every=3, n_test=64
    )
    out = tmp_path / "run"
    zoo.train(
        "allen-cahn-twobody",
        4,
        config=config,
        model=zoo.ModelConfig(width=8, depth=2),
        out=out,
        progress=False,
        plots=False,
        until=3,
    )
    path = out / "checkpoint.eqx"
    before = path.read_bytes()
    assert models.read_header(path)["metadata"]["step"] == 3

    # The process dies after the new file is written but before it replaces the old one.
    targets = []
    replace = os.replace

    def crash(src, dst, *args, **kwargs):
        targets.append(Path(dst).name)
        if Path(dst).name == "checkpoint.eqx":
            raise KeyboardInterrupt("killed during the checkpoint write")
        return replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        zoo.resume(out, progress=False)
    monkeypatch.undo()
    assert "checkpoint.eqx" in targets, targets
    assert path.read_bytes() == before, "the previous checkpoint must be untouched"
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")], "temp files are removed"
    # ... and the run resumes from it to the end.
    zoo.resume(out, progress=False)
    assert models.read_header(path)["metadata"]["step"] == 6


def _run_fresh_process(out: Path) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    subprocess.run(
        [sys.executable, "-m", "zoo", "train", *TINY, "--out", str(out)],
        check=True,
        env=env,
        capture_output=True,
        cwd=ROOT,
    )
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_same_seed_same_result_in_two_fresh_processes(tmp_path):
    a = _run_fresh_process(tmp_path / "a")
    b = _run_fresh_process(tmp_path / "b")
    keys = ("step", "loss", "rel_l2")
    assert [{k: r.get(k) for k in keys} for r in a] == [{k: r.get(k) for k in keys} for r in b]
    assert any(r.get("rel_l2") is not None for r in a)
