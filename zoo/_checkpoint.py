"""Run directories: `config.json`, `metrics.jsonl`, `checkpoint.eqx`, `summary.json`.

Every file is written atomically (temporary file in the same directory + `os.replace`,
then the directory is fsynced), so an interrupted run never leaves a half-written file;
`metrics.jsonl` is appended one flushed line at a time and cut back to the checkpoint's
step on resume. Lines of `metrics.jsonl` that cannot be parsed are never dropped: they
are moved to `metrics.rejected.jsonl` with a warning, and every valid record is kept.

A run directory is locked (`fcntl.flock` on `.lock` in it) for the life of a run, so two
writers (two `train --out D`, two `--resume D`) cannot interleave: the second is refused
with one line naming the holder. The lock goes with the process, however it ends.
Temporary files of a killed writer are removed when the next writer takes the lock.

The checkpoint is one `models.save` file holding the pair `(model, optimiser state)`, so
the two can never disagree about the step. Its header's `metadata` carries the preset,
the PDE configuration (with its seed), the model and training configuration, the step,
the RNG position (the data stream is keyed by the step) and library versions.
"""

import datetime
import fcntl
import json
import math
import os
import socket
import sys
import warnings
from pathlib import Path
from typing import IO, Any

import equinox as eqx
import jax
import optax

import models
from models._serialisation import temp_prefix, write_bytes_atomic
from stde._checks import is_int, is_real

from ._config import RunConfig

CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.eqx"
SUMMARY = "summary.json"
REJECTED = "metrics.rejected.jsonl"
LOCK = ".lock"
RUN_FILES = (CONFIG, METRICS, CHECKPOINT, SUMMARY, REJECTED)
# Run-file fields compared between `config.json` and the checkpoint on resume and load.
COMPARED = ("preset", "pde", "model", "train", "freeze", "warmup_freeze")
# The fields a resume may change (`zoo.resume(lr=, rollbacks=, steps=)`), recorded as an
# event in `metrics.jsonl`; rollbacks change `lr` and `rollbacks` the same way.
OVERRIDABLE = ("lr", "rollbacks", "steps")


class MetricsWarning(UserWarning):
    """Lines of `metrics.jsonl` could not be parsed; they were set aside, not deleted."""


# --- the run directory's lock -----------------------------------------------------------

_HELD: dict[str, list] = {}  # resolved path -> [open lock file, running]


def _holder(text: str) -> str:
    try:
        info = json.loads(text)
        return f"pid {info['pid']} on {info['host']}, since {info['since']}: `{info['command']}`"
    except (ValueError, KeyError, TypeError):
        return "a process that has not yet said who it is"


def lock_run_dir(run_dir: Path) -> None:
    """Take the exclusive lock of `run_dir` (which must exist) for this process.

    **Raises:** `ValueError` naming the holder if another process (or a run in progress in
    this one) holds it.
    """
    key = str(Path(run_dir).resolve())
    if key in _HELD:
        if _HELD[key][1]:
            raise ValueError(
                f"`{run_dir}` is in use by a run in progress in this process: choose another "
                "output directory."
            )
        return  # Held since an earlier call of this process that stopped before running.
    f: IO = open(Path(run_dir) / LOCK, "a+")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = _holder(f.read(4096))
        f.close()
        raise ValueError(
            f"`{run_dir}` is in use by another run ({holder}); wait for it to finish, or "
            "choose another output directory."
        ) from None
    except OSError:
        f.close()
        raise
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join(sys.argv)[:300],
    }
    f.seek(0)
    f.truncate()
    f.write(json.dumps(info) + "\n")
    f.flush()
    _HELD[key] = [f, False]


def mark_running(run_dir: Path | None, running: bool = True) -> None:
    if run_dir is not None and str(Path(run_dir).resolve()) in _HELD:
        _HELD[str(Path(run_dir).resolve())][1] = running


def unlock_run_dir(run_dir: Path | None) -> None:
    """Release this process's lock of `run_dir` (nothing if it holds none)."""
    if run_dir is None:
        return
    held = _HELD.pop(str(Path(run_dir).resolve()), None)
    if held is not None:
        held[0].close()  # Closing the descriptor releases the flock.


def remove_temp_files(run_dir: Path) -> list[Path]:
    """Delete the temporary files a killed writer left in `run_dir` (call with the lock
    held: no other process is writing there). Returns what was removed."""
    removed = []
    for name in RUN_FILES:
        for path in Path(run_dir).glob(temp_prefix(name) + "*.tmp"):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


# --- JSON -------------------------------------------------------------------------------


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float replaced by None (JSON has no NaN or inf)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


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
    """Standard JSON (non-finite numbers as null), atomically."""
    text = json.dumps(json_safe(data), indent=2, sort_keys=True, allow_nan=False)
    write_text_atomic(path, text + "\n")


MAX_JSON_BYTES = 1 << 20


def read_json(path: str | os.PathLike, what: str) -> Any:
    try:
        with open(path, "rb") as f:
            # Run files are small: a bound keeps a forged one from being read whole.
            text = f.read(MAX_JSON_BYTES + 1)
    except FileNotFoundError:
        raise ValueError(f"`{path}` not found: {what}.") from None
    if len(text) > MAX_JSON_BYTES:
        raise ValueError(f"`{path}` is damaged: larger than {MAX_JSON_BYTES} bytes.")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"`{path}` is damaged (not JSON: {e}).") from None
    except RecursionError:
        raise ValueError(f"`{path}` is damaged (JSON nested too deeply).") from None


def is_run_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / CONFIG).is_file()


def write_config(run_dir: Path, config: RunConfig) -> None:
    write_json_atomic(run_dir / CONFIG, config.to_dict())


def read_config(run_dir: str | os.PathLike) -> RunConfig:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"`{run_dir}` is not a directory.")
    data = read_json(run_dir / CONFIG, f"`{run_dir}` is not a run directory")
    return parse_config(data, f"`{run_dir / CONFIG}`")


def parse_config(data: Any, where: str) -> RunConfig:
    """`RunConfig.from_dict(data)`; any malformation is a `ValueError` naming `where`."""
    try:
        return RunConfig.from_dict(data)
    except (ValueError, TypeError, AttributeError, KeyError) as e:
        raise ValueError(f"{where} is damaged: {e}") from None


class MetricsLog:
    """Append-only `metrics.jsonl`: one JSON object per logged step, flushed per line.

    `records` mirrors the file; a record joins it only once written, so a failed write
    can be retried elsewhere (`zoo._trainer._Run.write`) without duplicating it.
    """

    def __init__(self, run_dir: Path | None):
        self.path = None if run_dir is None else Path(run_dir) / METRICS
        self.records: list[dict] = []

    def truncate(self, step: int) -> None:
        """Keep the records with `step <= step` (those before the checkpoint resumed from);
        lines that cannot be parsed are moved to `metrics.rejected.jsonl`, not dropped."""
        if self.path is not None and not self.records:
            self.records, rejected = scan_metrics(self.path.parent)
            if rejected:
                set_aside(self.path.parent, rejected)
        self.records = [r for r in self.records if r["step"] <= step]
        self.rewrite()

    def rewrite(self) -> None:
        """Write `records` as the whole file (atomically)."""
        if self.path is not None:
            write_text_atomic(self.path, "".join(_line(r) for r in self.records))

    def append(self, record: dict) -> None:
        record = json_safe(record)
        if self.path is not None:
            with open(self.path, "a") as f:
                f.write(_line(record))
                f.flush()
        self.records.append(record)


def _line(record: dict) -> str:
    return json.dumps(json_safe(record), allow_nan=False) + "\n"


def _record(line: bytes) -> dict | None:
    """The record on one line of `metrics.jsonl`, None if it is not one."""
    if not line.endswith(b"\n"):
        return None  # Unfinished: the writer was killed mid-line.
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    step = record.get("step")
    if not is_int(step) or step < 0:
        return None
    return record


def scan_metrics(run_dir: str | os.PathLike) -> tuple[list[dict], list[bytes]]:
    """`(records, rejected lines)` of `metrics.jsonl` in `run_dir`."""
    path = Path(run_dir) / METRICS
    if not path.exists():
        return [], []
    records, rejected = [], []
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            record = _record(line)
            if record is None:
                rejected.append(line)
            else:
                records.append(record)
    return records, rejected


def set_aside(run_dir: Path, lines: list[bytes]) -> None:
    """Append `lines` to `metrics.rejected.jsonl` and say so (a `MetricsWarning`)."""
    target = Path(run_dir) / REJECTED
    old = target.read_bytes() if target.exists() else b""
    new = b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines)
    write_bytes_atomic(target, old + new)
    warnings.warn(
        f"{len(lines)} line(s) of `{Path(run_dir) / METRICS}` could not be parsed (damaged, "
        f"or cut by a killed process); they were moved to `{target}`, and every valid "
        "record was kept.",
        MetricsWarning,
        stacklevel=4,
    )


def read_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """The records of `metrics.jsonl` in `run_dir`; lines that are not records (an
    unfinished last line, a damaged line) are skipped, and every valid record is kept."""
    return scan_metrics(run_dir)[0]


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
        "warmup_freeze": config.warmup_freeze,
        # Step k's collocation points and estimator keys come from
        # fold_in(PRNGKey(train.seed), data stream, k): the step *is* the RNG position.
        "rng": {"seed": config.train.seed, "position": step},
        "elapsed_s": elapsed_s,
        "versions": versions(),
    }
    models.save(run_dir / CHECKPOINT, (model, opt_state), metadata=metadata)


def read_checkpoint_header(run_dir: str | os.PathLike) -> dict:
    """The validated header of `run_dir/checkpoint.eqx` (a bounded read: nothing else of
    the file): `metadata` is a dict with an int `step >= 0`, a finite `elapsed_s >= 0` and
    the stored configuration.

    **Raises:** `ValueError` naming the file if it is missing, not a checkpoint or damaged.
    """
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        raise ValueError(f"`{path}` not found: the run directory has no checkpoint.")
    header = models.read_header(path)
    metadata = header.get("metadata")
    step = metadata.get("step") if isinstance(metadata, dict) else None
    if not is_int(step) or step < 0:
        raise ValueError(
            f"`{path}` is damaged: its header's `step` must be an int >= 0, got {step!r}."
        )
    elapsed = metadata.get("elapsed_s", 0.0)
    if not is_real(elapsed) or not math.isfinite(elapsed) or elapsed < 0:
        raise ValueError(
            f"`{path}` is damaged: its header's `elapsed_s` must be a finite number >= 0, "
            f"got {elapsed!r}."
        )
    return header


def _flatten(value: Any, prefix: str, out: dict) -> dict:
    if isinstance(value, dict):
        # The node itself too: a field that is a dict on one side and a leaf on the other
        # (a warm-up phase against `None`) differs, though their dotted leaves never meet.
        if prefix:
            out[prefix] = "{...}"
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    else:
        out[prefix] = value
    return out


def config_differences(config: RunConfig, header: dict) -> dict[str, tuple]:
    """`{field: (in the checkpoint, in config)}` for every field of the configuration
    stored in the checkpoint's header that `config` contradicts (`preset`, `pde`,
    `model`, `train`, `freeze`; fields only one side knows, e.g. added by a newer
    version, are not compared)."""
    return stored_differences(header.get("metadata") or {}, config)


def stored_differences(stored: dict, config: RunConfig) -> dict[str, tuple]:
    """`{field: (in stored, in config)}`, fields dotted (`train.warmup.steps`), for every
    field of `stored` (a configuration as JSON: a checkpoint header's or `config.json`'s)
    that `config` contradicts, over `COMPARED`."""
    stored = _flatten({k: stored.get(k) for k in COMPARED if k in stored}, "", {})
    mine = json.loads(json.dumps(config.to_dict()))
    ours = _flatten({k: mine[k] for k in COMPARED if k in mine}, "", {})
    return {
        k: (stored[k], ours[k])
        for k in sorted(stored.keys() & ours.keys())
        if stored[k] != ours[k] and not _same_number(stored[k], ours[k])
    }


def _same_number(a, b) -> bool:
    return is_real(a) and is_real(b) and float(a) == float(b)


def describe_differences(differences: dict[str, tuple]) -> str:
    return ", ".join(
        f"{k}: {a!r} in the checkpoint, {b!r} in config.json" for k, (a, b) in differences.items()
    )


def check_structure(path: str | os.PathLike, header: dict, abstract) -> None:
    """Before anything of the shape `abstract` (from `eqx.filter_eval_shape`) is
    allocated: the file at `path` must hold exactly its leaves (whose sizes the header
    check has bounded by the file's real size).

    **Raises:** `ValueError` naming the file and the first leaf that differs.
    """
    from models._serialisation import _signatures

    ours, theirs = header["leaves"], _signatures(abstract)
    if ours == theirs:
        return
    if len(ours) != len(theirs):
        detail = f"the file has {len(ours)} arrays, the configuration {len(theirs)}"
    else:
        i = next(i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b)
        a, b = ours[i], theirs[i]
        detail = (
            f"array {i} is {tuple(a[0])} {a[1]} in the file, {tuple(b[0])} {b[1]} in the "
            "configuration"
        )
    raise ValueError(
        f"`{path}` does not hold the model its configuration declares ({detail}): the "
        "configuration was edited or belongs to another file."
    )


def load_checkpoint(run_dir: str | os.PathLike, model_like, opt_state_like):
    """Load `(model, opt_state, step)` from `run_dir/checkpoint.eqx`.

    `model_like` and `opt_state_like` may be shapes only (`eqx.filter_eval_shape`).

    **Raises:** `ValueError` naming the file if it is missing, damaged or does not match
    the run's configuration.
    """
    path = Path(run_dir) / CHECKPOINT
    step = read_checkpoint_header(run_dir)["metadata"]["step"]
    model, opt_state = models.load(path, like=(model_like, opt_state_like))
    return model, opt_state, step
