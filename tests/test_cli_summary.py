"""The CLI run summary: error / trivial fit always, the published figure only where the
card holds one (a run in the published protocol's setting), the trivial fit's formula."""

from helpers import summary_card

import zoo
from zoo import _cli


def _summary(shipped_solver, card, capsys, config=None) -> str:
    config = config or shipped_solver.config
    _cli._print_summary(zoo.Solver(shipped_solver.model, shipped_solver.pde, config, card))
    return capsys.readouterr().out


def test_summary_off_protocol_labels_the_published_figure(shipped_solver, capsys):
    # Another recipe on a published PDE: the protocol's figure is shown as the bar, with
    # how to reproduce it, never as this run's reproduction.
    out = _summary(shipped_solver, summary_card(None), capsys)
    assert "error / trivial  0.05 " in out
    assert "3.50e-03   (the protocol's figure, another random instance" in out
    assert "--recipe protocol" in out
    assert "best fit K (1 - |x|^2), one scalar K" in out
    # The rows' notes start in one column, whatever the ratio's digits.
    rows = ("  final rel-L2", "  min rel-L2", "  trivial fit", "  error / trivial", "  published")
    for ratio in (0.05, 0.0143, 1.0):
        card = summary_card(None) | {"rel_l2_over_trivial": ratio}
        out = _summary(shipped_solver, card, capsys)
        columns = {line.index("(") for line in out.splitlines() if line.startswith(rows)}
        assert len(columns) == 1, out
    # A fine-tune: no published figure at all.
    tuned = shipped_solver.config.replace(init_from="poisson-twobody-d100")
    out = _summary(shipped_solver, summary_card(None), capsys, tuned)
    assert "3.50e-03" not in out
    assert "not the published protocol's setting" in out
    # The readouts of a network trained at another dimension (`TrainConfig.source_dim`):
    # a recipe, so the bar is shown, and the source's time beside the fit's.
    train = tuned.train.replace(source_dim=20)
    card = summary_card(None) | {"source_train_time_s": 21.4, "its_per_s": 0.25}
    out = _summary(shipped_solver, card, capsys, tuned.replace(train=train))
    assert "3.50e-03   (the protocol's figure, another random instance" in out
    assert "(after 21 s at d=20), 4 s/it" in out


def test_summary_in_protocol_prints_the_published_figure(shipped_solver, capsys):
    out = _summary(shipped_solver, summary_card(3.5e-3), capsys)
    assert "published        3.50e-03" in out
    assert "error / trivial  0.05 " in out
    # An older card without the ratio: computed from the two errors.
    card = summary_card(None)
    del card["rel_l2_over_trivial"]
    assert "error / trivial  0.05 " in _summary(shipped_solver, card, capsys)
