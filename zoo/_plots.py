"""PNG plots of a run: training curves and a 1D slice of $u$ and $u^*$ through the domain.

Drawn with matplotlib's object API on an Agg canvas: no global backend switch, no window.
"""

import os
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import stde
from pdes.research import trivial_fit_formula

from ._evaluate import reference_values
from ._keys import SLICE_DIRECTION, SLICE_POINTS, label_key


def _figure(ncols: int = 1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5 * ncols, 4), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def _save(fig, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def error_series(records: list[dict]) -> tuple[list[tuple[int, float]], str, str]:
    """(step, error) pairs, legend label and axis label of the error curve. Point-evaluation
    PDEs (parabolic, HJB) log the relative error of u at their reference point instead of a
    rel-L2 over the domain."""
    key, label, ylabel = "rel_l2", "rel-L2 (this run)", "relative L2 error"
    if not any(key in r for r in records) and any("rel_error" in r for r in records):
        key, label = "rel_error", "|u - u_ref| / |u_ref| (this run)"
        ylabel = "relative error at the reference point"
    return [(r["step"], r[key]) for r in records if key in r], label, ylabel


def _ratio_line(card: dict) -> str | None:
    ratio = card.get("rel_l2_over_trivial")
    if ratio is None and card.get("rel_l2") is not None and card.get("trivial_rel_l2"):
        ratio = card["rel_l2"] / card["trivial_rel_l2"]
    if ratio is None:
        return None
    return f"final rel-L2 {card['rel_l2']:.2e} = {ratio:.3g} x trivial fit"


def plot_curves(
    path: Path, records: list[dict], card: dict, title: str, trivial: str | None = None
) -> None:
    """Loss against step, and the error against step beside the trivial fit (`trivial`: its
    formula, `pdes.research.trivial_fit_formula`) and, only where the card holds one (a run in the
    published protocol's setting), the published figure. The legend sits below the axes,
    so it covers no line; a run with one evaluation says so on the plot."""
    fig, (ax_loss, ax_err) = _figure(2)
    logged = [r for r in records if "loss" in r]  # Not the rollback events.
    ax_loss.semilogy([r["step"] for r in logged], [r["loss"] for r in logged], lw=1)
    for r in records:
        if r.get("event") == "rollback":
            ax_loss.axvline(r["step"], color="tab:red", lw=0.8, ls=":")
    ax_loss.set(xlabel="step", ylabel="training loss")
    fig.suptitle(title)
    evals, label, ylabel = error_series(records)
    if evals:
        ax_err.semilogy(*zip(*evals), "o-", label=label)
        if card.get("trivial_rel_l2") is not None:
            what = f"trivial fit {trivial}" if trivial else "trivial fit"
            ax_err.axhline(card["trivial_rel_l2"], color="gray", ls=":", label=what)
        if card.get("published_rel_l2") is not None:
            ax_err.axhline(
                card["published_rel_l2"], color="C3", ls="--", label="published (min over evals)"
            )
        if len(evals) == 1:
            ax_err.annotate(
                "one evaluation, at the last step\n(a curve needs eval_every < steps)",
                evals[0],
                xytext=(0.05, 0.5),
                textcoords="axes fraction",
                fontsize=8,
                arrowprops=dict(arrowstyle="->", color="0.4"),
            )
            step = evals[0][0]
            ax_err.set_xlim(-0.05 * step, 1.05 * step)
        ax_err.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=8, frameon=False)
        ratio = _ratio_line(card)
        if ratio:
            ax_err.set_title(ratio, fontsize=9)
    else:
        ax_err.text(0.5, 0.5, "no error evaluations", ha="center", transform=ax_err.transAxes)
    ax_err.set(xlabel="step", ylabel=ylabel)
    _save(fig, path)


def slice_points(pde, n: int = 201, key=None) -> tuple[np.ndarray, jax.Array]:
    """Points on a segment through the domain: for ball domains a diameter along a random
    unit direction; otherwise coordinate 0 across the range of 512 sampled points, the
    other coordinates at their median. Returns `(s, x)`: the abscissa and the points.

    `key` defaults to a key of the plot's own (`zoo._keys.label_key`), independent of the
    PDE's coefficients and of every data stream: the same direction for every PDE seed."""
    ansatz = pde.ansatz
    s = np.linspace(-1.0, 1.0, n)
    if isinstance(ansatz, stde.BallAnsatz):
        key = label_key(SLICE_DIRECTION) if key is None else key
        # float32 whatever `jax_enable_x64` says: one direction per dimension.
        v = jax.random.normal(key, (pde.dim,), jnp.float32).astype(jnp.result_type(float))
        v = ansatz.radius * v / jnp.linalg.norm(v)
        return s, jnp.asarray(s)[:, None] * v[None, :]
    key = label_key(SLICE_POINTS) if key is None else key
    sample = np.asarray(pde.sample_interior(key, 512))
    centre = np.median(sample, axis=0)
    lo, hi = sample[:, 0].min(), sample[:, 0].max()
    s = np.linspace(lo, hi, n)
    x = np.repeat(centre[None, :], n, axis=0)
    x[:, 0] = s
    return s, jnp.asarray(x)


def slice_xlabel(pde) -> str:
    """The slice plot's axis label: how the segment was chosen."""
    if isinstance(pde.ansatz, stde.BallAnsatz):
        return (
            "s, with x = s R v; v a random unit direction\n"
            f"from a key of its own (label '{SLICE_DIRECTION}'),\n"
            "independent of the PDE's coefficients"
        )
    return (
        "x_0; the other coordinates at the median\n"
        f"of 512 points sampled with a key of its own\n(label '{SLICE_POINTS}')"
    )


def plot_slice(path: Path, solver, title: str) -> None:
    """$u$ (and $u^*$ where known) along `slice_points`."""
    pde = solver.pde
    s, x = slice_points(pde)
    x = x.astype(solver.dtype)
    fig, (ax,) = _figure(1)
    ax.plot(s, np.asarray(solver(x)), label="u (network)")
    if pde.has_reference_solution:
        ref = np.asarray(reference_values(pde, x))
        ax.plot(s, ref, "--", label="u* (exact / reference)")
    ax.set(xlabel=slice_xlabel(pde), ylabel="u", title=title)
    ax.legend()
    _save(fig, path)


def run_title(solver) -> str:
    """`<preset> d=<dim>`, and for a fine-tune what it started from and what was frozen."""
    cfg = solver.config
    if cfg is None:
        return "run"
    title = f"{cfg.preset or solver.pde.name} d={solver.pde.dim}"
    if cfg.init_from is not None:
        frozen = "" if cfg.freeze == "none" else f", frozen: {cfg.freeze}"
        if cfg.warmup_freeze is not None:
            frozen += f", first {cfg.train.warmup.steps} steps frozen: {cfg.warmup_freeze}"
        title = f"fine-tune: {title}\nfrom {cfg.init_from}{frozen}"
    return title


def write_plots(run_dir: Path, solver, records: list[dict], card: dict) -> None:
    """`curves.png` and `slice.png` in `run_dir`."""
    title = run_title(solver)
    trivial = trivial_fit_formula(solver.pde.ansatz)
    plot_curves(Path(run_dir) / "curves.png", records, card, title, trivial)
    plot_slice(Path(run_dir) / "slice.png", solver, title)
