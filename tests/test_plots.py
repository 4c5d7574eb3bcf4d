"""What the plots show: the card's error / trivial fit, the published figure only where
the card holds one, a fine-tune named as such, the legend clear of the lines, and the
trivial fit described by the one formula of `trivial_fit_formula`."""

from helpers import summary_card

import pdes
import zoo
from pdes._trivial import trivial_fit_formula
from zoo import _plots


def test_trivial_fit_formula_is_base_plus_k_factor():
    """The initial-value kinds keep their initial condition: g(x) + K t (kdv-1d), with the
    box factor B(x) that holds the square's edges (kdv-2d), not a multiple of the factor."""
    assert trivial_fit_formula(pdes.get("kdv-1d").ansatz) == "g(x) + K t"
    assert trivial_fit_formula(pdes.get("kdv-2d").ansatz) == "g(x) + K t B(x)"
    assert trivial_fit_formula(pdes.get("poisson-twobody", dim=5).ansatz) == "K (1 - |x|^2)"
    wide = pdes.get("poisson-twobody-wide", dim=4).ansatz
    assert trivial_fit_formula(wide) == "K (1 - |x|^2/R^2) with R = 2"
    assert trivial_fit_formula(pdes.get("biharmonic-twobody", dim=3).ansatz).endswith("^2")


def _curves(tmp_path, records, card, title="t"):
    figures = []
    save = _plots._save
    _plots._save = lambda fig, path: figures.append(fig)
    try:
        _plots.plot_curves(tmp_path / "c.png", records, card, title, "K (1 - |x|^2)")
    finally:
        _plots._save = save
    (fig,) = figures
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
