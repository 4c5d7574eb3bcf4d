"""Run directories: `config.json`, `metrics.jsonl`, `checkpoint.eqx`, `summary.json`.

Every file is written atomically (temporary file in the same directory + `os.replace`),
so an interrupted run never leaves a half-written file; `metrics.jsonl` is appended one
flushed line at a time and cut back to the checkpoint's step on resume.

The checkpoint is one `models.save` file holding the pair `(model, optimiser state)`, so
the two can never disagree about the step. Its header's `metadata` carries the preset,
the PDE configuration (with its seed), the model and training configuration, the step,
the RNG position (the data stream is keyed by the step) and library versions.
"""

import json
import os
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import optax

import models
from models._serialisation import write_bytes_atomic

from ._config import RunConfig

CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.eqx"
SUMMARY = "summary.json"


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("stde-zoo")
    except PackageNotFoundError:
        ours = "unknown"
    return {
        "stde-zoo": ours,
        "jax": jax.__version__,
        "equinox": eqx.__version__,
        "optax": optax.__version__,
    }


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode())


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike, what: str) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise ValueError(f"`{path}` not found: {what}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"`{path}` is damaged (not JSON: {e}).") from None


def is_run_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / CONFIG).is_file()


def write_config(run_dir: Path, config: RunConfig) -> None:
    write_json_atomic(run_dir / CONFIG, config.to_dict())


def read_config(run_dir: str | os.PathLike) -> RunConfig:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"`{run_dir}` is not a directory.")
    data = read_json(run_dir / CONFIG, f"`{run_dir}` is not a run directory")
    try:
        return RunConfig.from_dict(data)
    except ValueError as e:
        raise ValueError(f"`{run_dir / CONFIG}` is damaged: {e}") from None


class MetricsLog:
    """Append-only `metrics.jsonl`: one JSON object per logged step, flushed per line.

    `records` mirrors the file; a record joins it only once written, so a failed write
    can be retried elsewhere (`zoo._trainer._Run.write`) without duplicating it.
    """

    def __init__(self, run_dir: Path | None):
        self.path = None if run_dir is None else Path(run_dir) / METRICS
        self.records: list[dict] = []

    def truncate(self, step: int) -> None:
        """Keep the records with `step <= step` (those before the checkpoint resumed from)."""
        if self.path is not None and not self.records:
            self.records = read_metrics(self.path.parent)
        self.records = [r for r in self.records if r["step"] <= step]
        self.rewrite()

    def rewrite(self) -> None:
        """Write `records` as the whole file (atomically)."""
        if self.path is not None:
            write_text_atomic(self.path, "".join(json.dumps(r) + "\n" for r in self.records))

    def append(self, record: dict) -> None:
        if self.path is not None:
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")
                f.flush()
        self.records.append(record)


def read_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """The records of `metrics.jsonl` in `run_dir`; an unfinished last line is skipped."""
    path = Path(run_dir) / METRICS
    if not path.exists():
        return []
    records = []
    with open(path) as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return records


def save_checkpoint(
    run_dir: Path, model, opt_state, *, step: int, config: RunConfig, elapsed_s: float = 0.0
) -> None:
    """Write `checkpoint.eqx` atomically: `(model, opt_state)` after `step` updates."""
    metadata = {
        "kind": "stde-zoo checkpoint",
        "step": step,
        "preset": config.preset,
        "pde": None if config.pde is None else config.pde.to_dict(),
        "model": config.model.to_dict(),
        "train": config.train.to_dict(),
        "freeze": config.freeze,
        # Step k's collocation points and estimator keys come from
        # fold_in(PRNGKey(train.seed), data stream, k): the step *is* the RNG position.
        "rng": {"seed": config.train.seed, "position": step},
        "elapsed_s": elapsed_s,
        "versions": versions(),
    }
    models.save(run_dir / CHECKPOINT, (model, opt_state), metadata=metadata)


def load_checkpoint(run_dir: str | os.PathLike, model_like, opt_state_like):
    """Load `(model, opt_state, step)` from `run_dir/checkpoint.eqx`.

    **Raises:** `ValueError` naming the file if it is missing, damaged or does not match
    the run's configuration.
    """
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        raise ValueError(f"`{path}` not found: the run directory has no checkpoint.")
    header = models.read_header(path)
    step = header.get("metadata", {}).get("step")
    if not isinstance(step, int):
        raise ValueError(f"`{path}` is damaged: its header has no integer `step`.")
    model, opt_state = models.load(path, like=(model_like, opt_state_like))
    return model, opt_state, step
