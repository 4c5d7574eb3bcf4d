"""Saving and loading models (and any pytree) in one self-describing file.

File format, version 1: one line of JSON (the header), a newline, then the payload written
by `eqx.tree_serialise_leaves`. The header holds `format`, `format_version`, `spec` (the
class and constructor hyperparameters, recursively, or null), `leaves` (shape and dtype of
each serialised leaf), `dtype`, `jax_version`, `equinox_version`, `payload_bytes`,
`payload_sha256` and the caller's `metadata`. The zoo's checkpoints use the same format.
"""

import dataclasses
import hashlib
import io
import json
import math
import os
import stat
import tempfile
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import stde
from stde._checks import is_int

from ._ansatz import Constrained
from ._base import AbstractEmbedding, AbstractField
from ._embeddings import Embedded, FourierFeatures, PeriodicEmbedding, SquaredNorm, WithRadial
from ._mlp import MLP, ResidualMLP, SharedMLP, WindowMLP

FORMAT = "stde-zoo"
FORMAT_VERSION = 1
# The bound on what a load reads before the header is validated: at most this many bytes
# (the header line), read with a bounded `readline`; the payload is read only once the
# header's declared leaves fit in the file's real size. A header is small (a few hundred
# bytes per leaf), so a foreign or forged file cannot make a load allocate more.
MAX_HEADER_BYTES = 1 << 20
# Deeper JSON than this in a header is refused (the parser would recurse).
_MAX_HEADER_DEPTH = 64
_ITEMSIZE_PYTHON = {"python-bool": 1, "python-int": 8, "python-float": 8, "python-complex": 16}

_REGISTRY = {
    cls.__name__: cls
    for cls in (
        MLP,
        SharedMLP,
        ResidualMLP,
        WindowMLP,
        FourierFeatures,
        PeriodicEmbedding,
        SquaredNorm,
        Embedded,
        WithRadial,
        Constrained,
    )
}
# The ansatz kinds a `Constrained` may hold, written as {"__ansatz__": {"class": ...,
# "hyperparameters": ...}}: a key of their own, because before the kinds moved to `stde`
# the wrappers bore these names (see `_LEGACY`).
_ANSATZES = {
    cls.__name__: cls
    for cls in (
        stde.BallAnsatz,
        stde.InitialValueAnsatz,
        stde.EvolvedInitialValueAnsatz,
        stde.TerminalValueAnsatz,
        stde.NoAnsatz,
    )
}
# Files written before the ansatz kinds moved to `stde` name one wrapper class per kind.
# Those with JSON hyperparameters (the others have `spec: null` and load with `like`) are
# rebuilt as today's equivalent, whose leaves are the same: the weights load unchanged.
_LEGACY = {
    "BallAnsatz": lambda net, radius: Constrained(net, stde.BallAnsatz(radius)),
    "ClampedBallAnsatz": lambda net, radius: Constrained(net, stde.BallAnsatz(radius, power=2)),
    "PeriodicAnsatz": lambda net, in_size, coords, period, num_frequencies: Embedded(
        PeriodicEmbedding(in_size, coords, period, num_frequencies), net
    ),
}
_LEGACY_CLASS = {
    "BallAnsatz": "Constrained",
    "ClampedBallAnsatz": "Constrained",
    "PeriodicAnsatz": "Embedded",
}
_NEEDS_KEY = {MLP, SharedMLP, ResidualMLP, WindowMLP, FourierFeatures}


class _NotSerialisable(Exception):
    pass


def _encode(value, name: str = "model") -> Any:
    """Hyperparameters to JSON; nested models as {"__module__": spec}."""
    if isinstance(value, AbstractField | AbstractEmbedding):
        cls = type(value)
        if _REGISTRY.get(cls.__name__) is not cls:
            raise _NotSerialisable(f"`{cls.__name__}` is not a `models` class")
        hyper = {k: _encode(v, f"{cls.__name__}.{k}") for k, v in value.hyperparameters().items()}
        return {"__module__": {"class": cls.__name__, "hyperparameters": hyper}}
    if isinstance(value, stde.AbstractAnsatz):
        cls = type(value)
        if _ANSATZES.get(cls.__name__) is not cls:
            raise _NotSerialisable(f"`{cls.__name__}` is not a `stde` ansatz")
        hyper = {
            f.name: _encode(getattr(value, f.name), f"{cls.__name__}.{f.name}")
            for f in dataclasses.fields(value)
        }
        return {"__ansatz__": {"class": cls.__name__, "hyperparameters": hyper}}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, tuple | list):
        return [_encode(v, name) for v in value]
    raise _NotSerialisable(f"hyperparameter `{name}` = {value!r} is not JSON-serialisable")


def _decode(value) -> Any:
    if isinstance(value, dict) and "__ansatz__" in value:
        spec = value["__ansatz__"]
        kwargs = {k: _decode(v) for k, v in spec["hyperparameters"].items()}
        return _ANSATZES[spec["class"]](**kwargs)
    if isinstance(value, dict):
        spec = value["__module__"]
        kwargs = {k: _decode(v) for k, v in spec["hyperparameters"].items()}
        if spec["class"] in _LEGACY:
            return _LEGACY[spec["class"]](**kwargs)
        cls = _REGISTRY[spec["class"]]
        if cls in _NEEDS_KEY:
            # Any key: the parameters are overwritten by the file's leaves.
            kwargs["key"] = jax.random.PRNGKey(0)
        return cls(**kwargs)
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    return value


def _model_spec(model) -> tuple[dict | None, str | None]:
    try:
        return _encode(model)["__module__"], None
    except _NotSerialisable as e:
        return None, str(e)
    except Exception:
        # `_encode` on a non-model pytree: not rebuildable without `like`.
        return None, f"`{type(model).__name__}` is not a `models` class"


def _signature(leaf) -> list | None:
    """Shape and dtype of a leaf that `tree_serialise_leaves` writes; None if not written."""
    if isinstance(leaf, bool | int | float | complex):
        return [[], f"python-{type(leaf).__name__}"]
    if isinstance(leaf, jax.Array | np.ndarray | np.generic | jax.ShapeDtypeStruct):
        return [list(leaf.shape), jnp.dtype(leaf.dtype).name]
    return None


def _signatures(tree) -> list:
    return [s for s in map(_signature, jax.tree_util.tree_leaves(tree)) if s is not None]


def _check_finite(model) -> None:
    # Saving is a host-side boundary, off the jitted hot path: the one place where a
    # finiteness check over every parameter is cheap.
    leaves = jax.tree_util.tree_leaves_with_path(model)
    for where, leaf in leaves:
        if eqx.is_inexact_array(leaf) and not bool(jnp.all(jnp.isfinite(leaf))):
            bad = int(leaf.size - jnp.count_nonzero(jnp.isfinite(leaf)))
            raise ValueError(
                f"`model` must have finite parameters, got {bad} non-finite value(s) (NaN or "
                f"inf) at `{jax.tree_util.keystr(where)}`; not saved."
            )


def save(path: str | os.PathLike, model: Any, *, metadata: dict | None = None) -> None:
    """Save `model` (a `models` field, or any pytree) with a JSON header, atomically.

    Models built only from `models` classes with JSON hyperparameters are rebuilt by
    `models.load(path)` alone. Models holding callables (the `condition` of an initial- or
    terminal-value ansatz, a callable activation) or user classes
    are saved too, and are loaded with `models.load(path, like=skeleton)`.

    **Arguments:**

    - `path`: the file to write. Written to a temporary file in the same directory and
      moved into place with `os.replace`, so a crash never leaves a half-written `path`.
    - `model`: the model or pytree.
    - `metadata`: a JSON-serialisable dict stored in the header (`models.read_header`).

    **Raises:** `ValueError` if `metadata` is not a JSON-serialisable dict, `path` is a
    directory, or `model` has a NaN or infinite parameter (a diverged model is never
    written over a good file).
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"`path` must be a file name, got the directory `{path}`.")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise ValueError(f"`metadata` must be a dict, got {type(metadata).__name__}.")
    _check_finite(model)
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, model)
    payload = buffer.getvalue()
    spec, spec_note = _model_spec(model)
    inexact = [x for x in jax.tree_util.tree_leaves(model) if eqx.is_inexact_array(x)]
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "spec": spec,
        "spec_note": spec_note,
        "leaves": _signatures(model),
        "dtype": jnp.dtype(inexact[0].dtype).name if inexact else None,
        "jax_version": jax.__version__,
        "equinox_version": eqx.__version__,
        "payload_bytes": len(payload),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "metadata": metadata,
    }
    try:
        # Standard JSON only: NaN and inf (`NaN`, `Infinity`) are not JSON.
        header["header_sha256"] = _header_hash(header)
        line = json.dumps(header, allow_nan=False).encode()
    except (TypeError, ValueError, RecursionError) as e:
        raise ValueError(f"`metadata` must be JSON-serialisable (finite numbers): {e}") from None
    if len(line) >= MAX_HEADER_BYTES:
        raise ValueError(
            f"`metadata` makes the header {len(line)} bytes; at most {MAX_HEADER_BYTES} fit."
        )
    write_bytes_atomic(path, line + b"\n" + payload)


def _header_hash(header: dict) -> str:
    """sha256 of the header without its own hash (canonical JSON): the step, config and
    versions in `metadata` are covered as the payload is by `payload_sha256`."""
    body = {k: v for k, v in header.items() if k != "header_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, allow_nan=False).encode()).hexdigest()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_prefix(path: str | os.PathLike) -> str:
    """The name prefix of `write_bytes_atomic`'s temporary files for `path` (they end in
    `.tmp`); a run directory's owner removes leftovers of a killed process."""
    return f".{os.path.basename(path)}."


def fsync_directory(directory: str | os.PathLike) -> None:
    """Make a rename in `directory` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # Some file systems refuse fsync on a directory; the rename still happened.
    finally:
        os.close(fd)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same directory and
    `os.replace`, then fsync the directory: an interrupted write leaves the previous file
    (or none), never half of one, and no temporary file behind (a process killed with
    SIGKILL can leave one: `zoo` removes them when it next takes the run directory). The
    file gets the permissions `open` would give it (0666 less the umask)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=temp_prefix(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    fsync_directory(directory)


def _depth(text: bytes) -> int:
    """Deepest nesting of `[`/`{` in JSON text (strings skipped), without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in text:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _leaf_bytes(signature, where: str) -> int:
    """Bytes a declared leaf `[shape, dtype]` needs; `ValueError` if malformed."""
    if not (isinstance(signature, list) and len(signature) == 2):
        raise ValueError(f"{where} has a damaged header: a leaf is {signature!r}.")
    shape, dtype = signature
    if not (
        isinstance(shape, list)
        and all(is_int(n) and n >= 0 for n in shape)
        and isinstance(dtype, str)
    ):
        raise ValueError(f"{where} has a damaged header: a leaf is {signature!r}.")
    if dtype in _ITEMSIZE_PYTHON:
        if shape:
            raise ValueError(f"{where} has a damaged header: a leaf is {signature!r}.")
        return _ITEMSIZE_PYTHON[dtype]
    try:
        itemsize = np.dtype(dtype).itemsize
    except TypeError:
        raise ValueError(f"{where} has a damaged header: unknown dtype {dtype!r}.") from None
    return math.prod(shape) * itemsize


def _check_header(header, where: str, file_bytes: int, header_bytes: int) -> None:
    """Types and sizes of a parsed header, before anything is allocated from it."""
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{where} is not a stde-zoo model file (no `format: {FORMAT}`).")
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{where} has format version {version!r}; this version of `models` reads "
            f"{FORMAT_VERSION}. Upgrade stde-zoo to read it."
        )
    missing = {"spec", "leaves", "payload_bytes", "payload_sha256"} - header.keys()
    if missing:
        raise ValueError(f"{where} has a damaged header: missing {sorted(missing)}.")
    kinds = {
        "leaves": list,
        "payload_bytes": int,
        "payload_sha256": str,
        "metadata": dict,
        "spec": (dict, type(None)),
    }
    for name, kind in kinds.items():
        value = header.get(name, {} if name == "metadata" else None)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(
                f"{where} has a damaged header: `{name}` is {type(value).__name__} {value!r:.80}."
            )
    if "header_sha256" in header and header["header_sha256"] != _header_hash(header):
        raise ValueError(
            f"{where} is damaged: the header's sha256 does not match (its step, configuration "
            "or versions were altered)."
        )
    payload = header["payload_bytes"]
    if payload != file_bytes - header_bytes:
        raise ValueError(
            f"{where} is truncated or damaged: payload is {file_bytes - header_bytes} bytes, "
            f"header says {payload}."
        )
    declared = sum(_leaf_bytes(s, where) for s in header["leaves"])
    if declared > payload:
        raise ValueError(
            f"{where} is damaged: its header declares {declared} bytes of parameters, but the "
            f"file holds {payload}."
        )


def _read_header(path: str) -> tuple[dict, int, int]:
    """The validated header, its size in bytes (newline included) and the file's size.
    Reads at most `MAX_HEADER_BYTES`."""
    if os.path.isdir(path):
        raise ValueError(f"`path` must be a model file, got the directory `{path}`.")
    where = f"`{path}`"
    with open(path, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{where} is not a regular file, so not a stde-zoo model file.")
        line = f.readline(MAX_HEADER_BYTES)
    if not line.endswith(b"\n"):
        raise ValueError(f"{where} is not a stde-zoo model file (no header line).")
    if _depth(line) > _MAX_HEADER_DEPTH:
        raise ValueError(f"{where} has a damaged header (JSON nested too deeply).")
    try:
        header = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ValueError(f"{where} is not a stde-zoo model file (header is not JSON).") from None
    _check_header(header, where, info.st_size, len(line))
    return header, len(line), info.st_size


def _read(path: str) -> tuple[dict, bytes]:
    header, start, size = _read_header(path)
    with open(path, "rb") as f:
        f.seek(start)
        payload = f.read(header["payload_bytes"] + 1)  # Bounded by the checked size.
    return header, payload


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON header of a file written by `models.save` (hyperparameters, versions,
    hash, `metadata`), without loading the payload into a model.

    Reads at most `MAX_HEADER_BYTES` (1 MiB) of the file, whatever its size.

    **Raises:** `ValueError` if `path` is not such a file (or its header is malformed, or
    declares more data than the file holds); `FileNotFoundError` if absent.
    """
    return _read_header(os.fspath(path))[0]


def load(path: str | os.PathLike, *, like: Any = None) -> Any:
    """Load a model written by `models.save`.

    **Arguments:**

    - `path`: the file.
    - `like`: a skeleton with the same structure (e.g. a freshly initialised model); needed
      when the file has no rebuildable `spec` (models holding callables, user classes,
      arbitrary pytrees). Without it, the model is rebuilt from the header.

    **Returns:** the model, with the saved parameters.

    Nothing is allocated from the header before it is validated: the header line is read
    with a bound (`MAX_HEADER_BYTES`), its declared leaves must fit in the file's real
    size, and the model is rebuilt abstractly (`eqx.filter_eval_shape`) before the payload
    (as large as the file) is read into it.

    **Raises:** `ValueError` naming `path` if the file is truncated, a hash (payload or
    header) does not match, it is not a stde-zoo file, its header is malformed, its
    leaves do not match `like`, or it holds NaN or inf.
    """
    path = os.fspath(path)
    header, payload = _read(path)
    where = f"`{path}`"
    expected = header["payload_bytes"]
    if len(payload) != expected:
        raise ValueError(
            f"{where} is truncated or damaged: payload is {len(payload)} bytes, header says "
            f"{expected}."
        )
    if hashlib.sha256(payload).hexdigest() != header["payload_sha256"]:
        raise ValueError(f"{where} is damaged: the payload's sha256 does not match the header's.")
    spec = header["spec"]
    if like is None:
        if spec is None:
            raise ValueError(
                f"{where} cannot be rebuilt from its header ({header.get('spec_note')}); pass "
                "a skeleton: `models.load(path, like=model_of_same_shape)`."
            )
        try:
            like = eqx.filter_eval_shape(lambda: _decode({"__module__": spec}))
        except Exception as e:
            raise ValueError(f"{where}: cannot rebuild the model from its header: {e}") from None
    elif spec is not None and type(like).__name__ != _LEGACY_CLASS.get(
        spec.get("class"), spec.get("class")
    ):
        raise ValueError(
            f"{where} holds a `{spec.get('class')}`, but `like` is a `{type(like).__name__}`."
        )
    ours, theirs = header["leaves"], _signatures(like)
    if len(ours) != len(theirs):
        raise ValueError(
            f"{where} does not match `like`: the file has {len(ours)} leaves, `like` has "
            f"{len(theirs)}."
        )
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if a != b:
            hint = ""
            if a[1] == "float64" and b[1] == "float32":
                hint = " The file is float64: enable `jax_enable_x64` before loading."
            raise ValueError(
                f"{where} does not match `like` at leaf {i}: file has shape {tuple(a[0])} "
                f"{a[1]}, `like` has {tuple(b[0])} {b[1]}.{hint}"
            )
    try:
        model = eqx.tree_deserialise_leaves(io.BytesIO(payload), like)
    except Exception as e:
        raise ValueError(f"{where}: cannot read the payload into `like`: {e}") from None
    for at, leaf in jax.tree_util.tree_leaves_with_path(model):
        if eqx.is_inexact_array(leaf) and not bool(jnp.all(jnp.isfinite(leaf))):
            raise ValueError(
                f"{where} holds non-finite values (NaN or inf) at "
                f"`{jax.tree_util.keystr(at)}`; `models.save` never writes them, so the file "
                "was altered or damaged."
            )
    return model
