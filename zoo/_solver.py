"""`Solver` (a trained model with its PDE), `load` and `evaluate`."""

import difflib
import hashlib
import os
import re
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

import models
from stde._checks import check_int

from . import _checkpoint as ckpt
from ._config import PDESpec, RunConfig
from ._evaluate import count, point_errors, stream_errors
from ._optim import init_state, make_optimizer
from ._presets import (
    build_model,
    dtype_of,
    get_preset,
    get_pretrained,
    names,
    point_reference,
    pretrained_names,
)

PRETRAINED_DIR = Path(__file__).parent / "pretrained"


@eqx.filter_jit
def _apply(model, x):
    return jax.vmap(model)(x)


class Solver(eqx.Module):
    """A trained solver: call it as $u(x)$.

    `solver(x)` takes one point of shape `(input_dim,)` (returns a scalar) or a batch of
    shape `(n, input_dim)` (returns `(n,)`); time-dependent PDEs have time last. The
    solver carries its `pde`, the `config` it was trained with (a `zoo.RunConfig`, None
    for a model trained outside `zoo`) and a `card` (dict: final errors, steps, timing,
    versions; empty if unknown).
    """

    model: Any
    pde: Any
    config: RunConfig | None = eqx.field(static=True)
    card: dict

    @property
    def input_dim(self) -> int:
        return self.pde.input_dim

    @property
    def dtype(self):
        leaves = [x for x in jax.tree_util.tree_leaves(self.model) if eqx.is_inexact_array(x)]
        return leaves[0].dtype if leaves else jnp.float32

    def __call__(self, x: Float[Array, "*batch input_dim"]) -> Float[Array, "*batch"]:
        x = jnp.asarray(x)
        n = self.input_dim
        if x.ndim not in (1, 2) or x.shape[-1] != n:
            raise ValueError(
                f"`x` must have shape ({n},) or (batch, {n}) for this solver "
                f"(input_dim={n}), got {x.shape}."
            )
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise ValueError(f"`x` must be a floating-point array, got dtype {x.dtype}.")
        x = x.astype(self.dtype)
        if x.ndim == 1:
            return self.model(x)
        return _apply(self.model, x)


def evaluate(
    solver: Solver,
    # Loose on purpose: NumPy integer scalars are counts too.
    n_points: int | np.number | None = None,
    *,
    key: PRNGKeyArray | None = None,
    batch_size: int | np.number | None = None,
) -> dict:
    """Errors of `solver` against its PDE's solution on `n_points` streamed test points.

    **Arguments:**

    - `solver`: a `zoo.Solver`.
    - `n_points`: test points (generated and evaluated `batch_size` at a time); default
      2000. A positive int (NumPy integer scalars too).
    - `key`: the test stream's key; default the run's `test_seed` (12345 if unknown).
    - `batch_size`: test points per batch; default chosen from the dimension.

    **Returns:** a dict with `rel_l2`, `trivial_rel_l2` (the best one-scalar fit of the
    ansatz, the honesty baseline), `linf`, `rel_linf` and `n_points`. For PDEs whose
    truth is known only at a reference point (parabolic, HJB-LQG): `u_reference_point`,
    `reference_value` and, when a reference exists, `rel_error`; those take no
    `n_points`, `key` or `batch_size` (refused rather than ignored).

    **Raises:** `ValueError` for a bad count, an argument that would be ignored, or a
    solution that is not finite at a test point.
    """
    if not isinstance(solver, Solver):
        raise ValueError(f"`solver` must be a `zoo.Solver`, got {type(solver).__name__}.")
    n_points = count(n_points, "n_points", optional=True)
    batch_size = count(batch_size, "batch_size", optional=True)
    pde = solver.pde
    if solver.config is not None:
        mode = solver.config.evaluation
    else:
        # Presets know whether their truth is a field or one reference value.
        mode = get_preset(pde.name).evaluation if pde.name in names() else "field"
    if mode == "point":
        given = [
            k
            for k, v in (("n_points", n_points), ("key", key), ("batch_size", batch_size))
            if v is not None
        ]
        if given:
            raise ValueError(
                f"`{given[0]}` does not apply to `{pde.name}`, whose error is measured at its "
                "reference point only: leave it out."
            )
        return point_errors(solver.model, pde, point_reference(pde))
    if key is None:
        seed = 12345 if solver.config is None else solver.config.train.test_seed
        key = jax.random.PRNGKey(seed)
    n = 2000 if n_points is None else n_points
    if not pde.has_reference_solution:
        raise ValueError(f"`{pde.name}` has no known solution to compare with.")
    return stream_errors(solver.model, pde, n=n, key=key, batch_size=batch_size)


def skeleton(config: RunConfig, pde=None):
    """A freshly initialised model and optimiser state of the run's structure."""
    if pde is None:
        if config.pde is None:
            raise ValueError(
                "this run's PDE cannot be rebuilt from its config (a user-defined PDE); "
                "pass `pde=` explicitly."
            )
        pde = config.pde.build()
    dtype = dtype_of(config.train)
    model = build_model(pde, config.model, key=jax.random.PRNGKey(0), dtype=dtype)
    optimizer = make_optimizer(config.train, model, config.freezes)
    return pde, model, optimizer, init_state(optimizer, model)


def abstract_state(config: RunConfig, pde=None):
    """`(model, optimiser state)` as `skeleton` builds them, as shapes and dtypes only
    (`eqx.filter_eval_shape`): nothing of the declared size is allocated, so a forged
    configuration (a width of 60 000) is compared with a file before it costs memory."""

    def build():
        _, model, _, opt_state = skeleton(config, pde)
        return model, opt_state

    try:
        return eqx.filter_eval_shape(build)
    except ValueError:
        raise
    except Exception as e:  # A configuration the model builders cannot take.
        raise ValueError(f"cannot build the model this configuration declares: {e}") from None


def _build_pde(config: RunConfig, pde):
    if pde is not None:
        return pde
    if config.pde is None:
        raise ValueError(
            "this run's PDE cannot be rebuilt from its config (a user-defined PDE); "
            "pass `pde=` explicitly."
        )
    return config.pde.build()


def _check_pde(config: RunConfig, pde, where) -> None:
    """A `pde=` given for a run must be the run's PDE when the run names one."""
    if pde is None or config.pde is None:
        return
    given = PDESpec.from_pde(pde) if pde.rebuildable else None
    if given != config.pde:
        raise ValueError(
            f"`pde` is not the PDE of {where} ({config.pde.name}, d={config.pde.dim}, seed "
            f"{config.pde.seed}); `pde=` is only for runs of a user-defined PDE: leave it out."
        )


def check_run(run_dir: Path, config: RunConfig, header: dict, pde=None, explained=()) -> None:
    """`config.json` must agree with the configuration stored in the checkpoint (except
    the fields in `explained`), and the model it declares must be the one the checkpoint
    holds; checked before anything of the declared size is allocated.

    **Raises:** `ValueError` naming the fields that differ.
    """
    differences = {
        k: v for k, v in ckpt.config_differences(config, header).items() if k not in explained
    }
    if differences:
        raise ValueError(
            f"`{run_dir / ckpt.CONFIG}` does not match the configuration stored in "
            f"`{ckpt.CHECKPOINT}`: {ckpt.describe_differences(differences)}. Restore "
            "config.json (or start a new run); `--resume` may change only --lr, --rollbacks "
            "and --steps."
        )
    ckpt.check_structure(run_dir / ckpt.CHECKPOINT, header, abstract_state(config, pde))


def _load_run(run_dir: Path, pde=None) -> Solver:
    config = ckpt.read_config(run_dir)
    _check_pde(config, pde, f"`{run_dir}`")
    header = ckpt.read_checkpoint_header(run_dir)
    check_run(run_dir, config, header, pde, explained=ckpt.OVERRIDABLE)
    model, opt_state = abstract_state(config, pde)
    model, _, step = ckpt.load_checkpoint(run_dir, model, opt_state)
    card = {"step": step, "run_dir": str(run_dir), "shipped": False}
    if (run_dir / ckpt.SUMMARY).is_file():
        summary = ckpt.read_json(run_dir / ckpt.SUMMARY, "no summary")
        if isinstance(summary, dict):
            card.update({k: v for k, v in summary.items() if k != "shipped"})
    return Solver(model, _build_pde(config, pde), config, card)


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# The shipped solvers: `zoo/pretrained/SHA256SUMS` (the format of `sha256sum`) lists the
# weights `<name>.eqx` and model card `<name>.json` of each, and only those names load.
REGISTRY = "SHA256SUMS"
_NAME = re.compile(r"[a-z0-9][a-z0-9.-]*")


def registry(directory: Path | None = None) -> dict[str, dict[str, str]]:
    """`{name: {"eqx": sha256, "json": sha256}}` of the shipped solvers, from the hash
    list held in the package (not beside any file a user supplies)."""
    path = (PRETRAINED_DIR if directory is None else directory) / REGISTRY
    entries: dict[str, dict[str, str]] = {}
    if not path.is_file():
        return {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) != 2 or not re.fullmatch(r"[0-9a-f]{64}", parts[0]):
            continue
        digest, file = parts
        stem, _, ext = file.rpartition(".")
        if ext in ("eqx", "json") and _NAME.fullmatch(stem) and ".." not in stem:
            entries.setdefault(stem, {})[ext] = digest
    return {k: v for k, v in entries.items() if v.keys() == {"eqx", "json"}}


def shipped_names() -> list[str]:
    """Names `zoo.load(name)` accepts: those in the package's hash registry."""
    return sorted(registry())


def _verified(path: Path, expected: str, what: str) -> None:
    if not path.is_file() or file_sha256(path) != expected:
        raise ValueError(
            f"`{path}` does not match the sha256 of its {what} held in the package "
            f"(`zoo/pretrained/{REGISTRY}`): the file is damaged or was replaced; reinstall "
            "stde-zoo."
        )


def _load_pretrained(name: str) -> Solver:
    entry = registry().get(name)
    if entry is None:
        known = get_pretrained(name)
        raise ValueError(
            f"no pretrained weights for {name!r} are shipped with this installation; train "
            f"them with `python -m zoo train {known.preset} --dim {known.dim} --out DIR` and "
            "load the run directory."
        )
    weights, card_path = PRETRAINED_DIR / f"{name}.eqx", PRETRAINED_DIR / f"{name}.json"
    # The card's hash is the package's, so what the card says (its errors, its weights'
    # sha256) is what was shipped.
    _verified(card_path, entry["json"], "model card")
    card = ckpt.read_json(card_path, "no model card")
    if not isinstance(card, dict):
        raise ValueError(f"`{card_path}` is damaged: a model card is a JSON object.")
    if card.get("sha256") != entry["eqx"]:
        raise ValueError(
            f"`{card_path}` does not name the weights the package lists for {name!r}; "
            "reinstall stde-zoo."
        )
    if not weights.is_file() or file_sha256(weights) != entry["eqx"]:
        raise ValueError(
            f"`{weights}` does not match the sha256 in its model card `{card_path.name}` "
            f"(held in the package's `{REGISTRY}`): the file is damaged or was replaced; "
            "reinstall stde-zoo."
        )
    config = ckpt.parse_config(card.get("config"), f"`{card_path}`")
    header = models.read_header(weights)
    model, _ = abstract_state(config)
    ckpt.check_structure(weights, header, model)
    model = models.load(weights, like=model)
    card = {**card, "shipped": True}
    return Solver(model, _build_pde(config, None), config, card)


def load_file(path: str | os.PathLike, *, pde=None) -> Solver:
    """Load a solver from a file of your own: weights written by `zoo.export_pretrained`
    (`<name>.eqx`, whose header carries the configuration) or a run's `checkpoint.eqx`.

    The result is never labelled as shipped: its card holds `file`, `shipped: False` and
    the step, and none of the claims (errors, timings) of any card beside the file; run
    `zoo.evaluate` to measure it. Nothing of the declared model size is allocated before
    the file's header is validated against the file's size.

    **Raises:** `ValueError` if the file is not such a file, is damaged, or its
    configuration does not match its contents.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"`path` must be a model file, got `{path}` (not a file).")
    header = models.read_header(path)
    metadata = header.get("metadata") or {}
    if metadata.get("kind") == "stde-zoo checkpoint":
        data = {k: metadata.get(k) for k in ckpt.COMPARED}
        data.update(init_from=None, evaluation=_evaluation_of(data))
        config = ckpt.parse_config(data, f"`{path}`'s header")
        _check_pde(config, pde, f"`{path}`")
        model, opt_state = abstract_state(config, pde)
        ckpt.check_structure(path, header, (model, opt_state))
        model, _ = models.load(path, like=(model, opt_state))
    else:
        config = ckpt.parse_config(metadata.get("config"), f"`{path}`'s header")
        _check_pde(config, pde, f"`{path}`")
        model, _ = abstract_state(config, pde)
        ckpt.check_structure(path, header, model)
        model = models.load(path, like=model)
    card = {"file": str(path), "shipped": False, "step": metadata.get("step")}
    return Solver(model, _build_pde(config, pde), config, card)


def _evaluation_of(data: dict) -> str:
    preset = data.get("preset")
    return get_preset(preset).evaluation if preset in names() else "field"


def export_pretrained(run_dir: str | os.PathLike, name: str, dest: str | os.PathLike) -> dict:
    """Write the final model of a finished run as `dest/<name>.eqx` with the model card
    `dest/<name>.json` (PDE and seed, model, training configuration, final errors beside
    the trivial fit and the published figure, training time, versions, sha256).

    **Returns:** the card.

    **Raises:** `ValueError` if the run has not finished.
    """
    run_dir, dest = Path(run_dir), Path(dest)
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise ValueError(f"`name` must be lower-case letters, digits, '-' and '.', got {name!r}.")
    solver = _load_run(run_dir)
    if "rel_l2" not in solver.card and "u_reference_point" not in solver.card:
        raise ValueError(f"`{run_dir}` has not finished (no `summary.json`): resume it first.")
    dest.mkdir(parents=True, exist_ok=True)
    weights = dest / f"{name}.eqx"
    models.save(weights, solver.model, metadata={"name": name, "config": solver.config.to_dict()})
    card = {k: v for k, v in solver.card.items() if k != "run_dir"}
    card.update(
        name=name,
        config=solver.config.to_dict(),
        train=solver.config.train.to_dict(),
        device=str(jax.devices()[0]),
        file=weights.name,
        sha256=file_sha256(weights),
    )
    ckpt.write_json_atomic(dest / f"{name}.json", card)
    _register(dest, name)
    return card


def _register(dest: Path, name: str) -> None:
    """Write the hashes of `<name>.eqx` and `<name>.json` into `dest/SHA256SUMS` (the
    package's registry when `dest` is `zoo/pretrained/`), replacing older ones."""
    path = dest / REGISTRY
    keep = [] if not path.is_file() else path.read_text().splitlines()
    files = (f"{name}.eqx", f"{name}.json")
    keep = [line for line in keep if line.split()[-1:] not in ([f] for f in files)]
    keep += [f"{file_sha256(dest / f)}  {f}" for f in files]
    keep.sort(key=lambda line: line.split()[-1])
    ckpt.write_text_atomic(path, "\n".join(keep) + "\n")


def load(name_or_dir: str | os.PathLike, *, dim: int | None = None, pde=None) -> Solver:
    """Load a shipped pretrained solver by name, or the latest checkpoint of a run directory.

    **Arguments:**

    - `name_or_dir`: a shipped name such as `"allen-cahn-twobody-d100"` (only names in the
      package's registry `zoo/pretrained/SHA256SUMS` load; weights and model card are
      verified against the hashes held there), a preset name with `dim=` (meaning
      `<preset>-d<dim>`), or a run directory written by `zoo.train` /
      `python -m zoo train --out DIR`. A file of your own loads with `zoo.load_file`.
    - `dim`: only with a preset name.
    - `pde`: only for runs of a user-defined PDE, which cannot be rebuilt from
      `config.json`.

    The solver's card says `shipped: True` for a shipped solver, `False` otherwise.

    **Raises:** `ValueError` with the reason if the name is unknown, the weights are not
    shipped, a file is missing or damaged, or an argument would be ignored.
    """
    check_int(dim, "dim", optional=True)
    if isinstance(name_or_dir, str) and not name_or_dir:
        raise ValueError("`name_or_dir` is empty: give a shipped name or a run directory.")
    path = Path(name_or_dir)
    if path.is_dir():
        if dim is not None:
            raise ValueError(
                f"`dim` is only for a preset name; `{path}` is a run directory, whose "
                "dimension is its own: leave `dim` out."
            )
        return _load_run(path, pde)
    name = str(name_or_dir)
    if path.is_file():
        raise ValueError(
            f"`{name}` is a file: `zoo.load` takes a shipped name or a run directory; load "
            "your own file with `zoo.load_file(path)` (it is not labelled as shipped)."
        )
    if pde is not None:
        raise ValueError(
            "`pde` is only for run directories of a user-defined PDE; a pretrained solver "
            "has its own PDE: leave `pde` out."
        )
    if dim is not None:
        if name not in names():
            raise ValueError(
                f"`dim` is only for a preset name (meaning `<preset>-d<dim>`); {name!r} is "
                "not one: leave `dim` out."
                + (
                    f" {name!r} is already a pretrained name."
                    if name in pretrained_names() or name in shipped_names()
                    else ""
                )
            )
        name = f"{name}-d{dim}"
    if name in shipped_names() or name in pretrained_names():
        return _load_pretrained(name)
    if name in names():
        known = [p for p in pretrained_names() if p.startswith(name + "-d")]
        raise ValueError(
            f"{name!r} is a preset, not a trained solver: pass `dim=` or a pretrained name "
            f"({', '.join(known) or 'none for this preset'}), or train it with "
            f"`python -m zoo train {name}`."
        )
    m = re.fullmatch(r"(.+)-d(\d+)", name)
    if m and m.group(1) in names():
        raise ValueError(
            f"no pretrained solver {name!r}; pretrained: {', '.join(pretrained_names())}. Train "
            f"it with `python -m zoo train {m.group(1)} --dim {m.group(2)} --out DIR`."
        )
    close = difflib.get_close_matches(name, pretrained_names() + names(), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"{name!r} is neither a run directory nor a pretrained solver.{hint} Pretrained: "
        f"{', '.join(pretrained_names())}."
    )
