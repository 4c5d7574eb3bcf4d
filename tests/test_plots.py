"""What the plots show: the card's error / trivial fit, the published figure only where
the card holds one, a fine-tune named as such, the legend clear of the lines, and the
trivial fit described by the one formula of `trivial_fit_formula`."""

import numpy as np
from helpers import summary_card

import pdes
import zoo
from pdes._trivial import trivial_fit_formula
from zoo import _evaluate, _plots


def test_trivial_fit_formula_is_base_plus_k_factor():
    """The initial-value kinds keep their initial condition: g(x) + K t (kdv-1d), with the
    box factor B(x) that holds the square's edges (kdv-2d), not a multiple of the factor."""
    assert trivial_fit_formula(pdes.get("kdv-1d").ansatz) == "g(x) + K t"
    assert trivial_fit_formula(pdes.get("kdv-2d").ansatz) == "g(x) + K t B(x)"
    assert trivial_fit_formula(pdes.get("poisson-twobody", dim=5).ansatz) == "K (1 - |x|^2)"
    wide = pdes.get("poisson-twobody-wide", dim=4).ansatz
    assert trivial_fit_formula(wide) == "K (1 - |x|^2/R^2) with R = 2"
    assert trivial_fit_formula(pdes.get("biharmonic-twobody", dim=3).ansatz).endswith("^2")


def _drawn(draw):
    """The one figure `draw()` saves, kept instead of written."""
    figures = []
    save = _plots._save
    _plots._save = lambda fig, path: figures.append(fig)
    try:
        draw()
    finally:
        _plots._save = save
    (fig,) = figures
    return fig


def _curves(tmp_path, records, card, title="t"):
    fig = _drawn(
        lambda: _plots.plot_curves(tmp_path / "c.png", records, card, title, "K (1 - |x|^2)")
    )
    fig.canvas.draw()
    return fig, fig.axes[1]


def test_error_plot_legend_is_clear_of_the_axes(tmp_path):
    records = [{"step": s, "loss": 1.0 / s, "rel_l2": 1e-2 / s} for s in range(1, 6)]
    fig, ax = _curves(tmp_path, records, summary_card(3.5e-3))
    legend = ax.get_legend().get_window_extent()
    box = ax.get_window_extent()
    assert legend.y1 <= box.y0  # below the plotting area: it covers no line
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "trivial fit K (1 - |x|^2)" in labels and "published (min over evals)" in labels
    assert "0.05 x trivial fit" in ax.get_title()
    # Off the protocol the card holds no published figure, and the plot draws none.
    fig, ax = _curves(tmp_path, records, summary_card(None))
    assert not any("published" in t.get_text() for t in ax.get_legend().get_texts())


def test_one_evaluation_is_said_on_the_plot(tmp_path):
    records = [{"step": s, "loss": 1.0} for s in (100, 200)] + [
        {"step": 300, "loss": 1.0, "rel_l2": 2e-2}
    ]
    fig, ax = _curves(tmp_path, records, summary_card(None))
    assert any("one evaluation" in t.get_text() for t in ax.texts)
    assert ax.get_xlim()[0] < 0 < 300 < ax.get_xlim()[1]


def test_fine_tune_title(shipped_solver):
    config = shipped_solver.config.replace(init_from="poisson-twobody-d100", freeze="all-but-last")
    title = _plots.run_title(zoo.Solver(shipped_solver.model, shipped_solver.pde, config, {}))
    assert title.startswith("fine-tune: poisson-twobody d=100")
    assert "from poisson-twobody-d100, frozen: all-but-last" in title
    assert _plots.run_title(shipped_solver) == "poisson-twobody d=100"


def test_slice_draws_the_reference_solution(tmp_path, shipped_solver):
    """The slice's dashed line is u* at the slice's points, computed point by point here;
    the jitted evaluation a batch at a time (with a remainder) gives the same values."""
    pde = shipped_solver.pde
    fig = _drawn(lambda: _plots.plot_slice(tmp_path / "s.png", shipped_solver, "t"))
    network, reference = fig.axes[0].lines
    x = _plots.slice_points(pde)[1].astype(shipped_solver.dtype)  # as the plot draws it
    by_point = np.array([float(pde.reference_solution(p)) for p in x])
    # float32 evaluated by another kernel: 1 - |x|^2 sums 100 squares, so values of O(1)
    # agree to a few float32 roundings of that sum, not bit for bit (0 vs 6e-7 on the rim).
    assert np.allclose(reference.get_ydata(), by_point, rtol=1e-5, atol=1e-5)
    assert np.allclose(network.get_ydata(), np.asarray(shipped_solver(x)))
    chunked = _evaluate.reference_values(pde, x[:11], batch_size=4)
    assert np.allclose(chunked, by_point[:11], rtol=1e-5, atol=1e-5)
