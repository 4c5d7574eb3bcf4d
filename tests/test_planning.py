"""The jet planner: Faà di Bruno expansions, contamination, verified plans."""

from fractions import Fraction

import pytest

import stde
from stde._planning import PlannedJet, combine, verify


def e(i):
    return ((i, Fraction(1)),)


def test_published_thirteen_jet_is_contaminated():
    # e_x, e_y, e_t in slots 3, 4, 7: 3+3+3+4 = 13 but also 3+3+7 = 13.
    jet = stde.planning.Jet(13, ((3, e(0)), (4, e(1)), (7, e(2))))
    assert stde.planning.expand_jet(jet) == {(0, 0, 0, 1): 200200, (0, 0, 2): 17160}


def test_published_nine_jet_is_contaminated():
    jet = stde.planning.Jet(9, ((2, e(0)), (3, e(1))))
    assert stde.planning.expand_jet(jet) == {(0, 0, 0, 1): 1260, (1, 1, 1): 280}


def test_seven_jet_isolates_u_iij_and_lower_coefficients():
    slots = ((2, e(0)), (3, e(1)))
    assert stde.planning.expand_jet(stde.planning.Jet(7, slots)) == {(0, 0, 1): 105}
    assert stde.planning.expand_jet(stde.planning.Jet(4, slots)) == {(0, 0): 3}
    assert stde.planning.expand_jet(stde.planning.Jet(3, slots)) == {(1,): 1}


def test_pure_directional_jet_is_the_multinomial_expansion():
    # y_2 of (e0 + 2 e1) = u_00 + 4 u_01 + 4 u_11.
    jet = stde.planning.Jet(2, ((1, ((0, Fraction(1)), (1, Fraction(2)))),))
    assert stde.planning.expand_jet(jet) == {(0, 0): 1, (0, 1): 4, (1, 1): 4}


def test_biharmonic_polarisation_identity():
    plus = stde.planning.Jet(4, ((1, ((0, Fraction(1)), (1, Fraction(1)))),))
    minus = stde.planning.Jet(4, ((1, ((0, Fraction(1)), (1, Fraction(-1)))),))
    total = combine((PlannedJet(plus, Fraction(1)), PlannedJet(minus, Fraction(1))))
    assert total == {(0, 0, 0, 0): 2, (0, 0, 1, 1): 12, (1, 1, 1, 1): 2}


@pytest.mark.parametrize(
    "index",
    [
        (0, 1),
        (0, 0, 1),
        (0, 0, 0, 1),
        (0, 1, 2),
        (0, 0, 1, 1),
        (0, 0, 0, 1, 2),
        (0, 0, 1, 1, 2, 2),
        (0, 1, 2, 3, 4, 5),
        (3, 3, 3, 3, 3, 1),
    ],
)
def test_every_plan_is_exact(index):
    plan = stde.planning.plan_partial(index)
    assert combine(plan.jets) == {tuple(sorted(index)): 1}
    text = str(plan)
    assert "plan (" in text and "-jet [slot" in text


def test_multislot_plans_choose_uncontaminated_slots():
    from stde._planning import _multislot_plan

    plan = _multislot_plan((0, 0, 1), max_order=9)
    (pj,) = plan.jets
    assert plan.method == "one multi-slot jet" and pj.jet.order == 7
    assert stde.planning.expand_jet(pj.jet) == {(0, 0, 1): 1 / pj.weight}
    # u_{0001}: slots 2 and 5 (order 11) are the cheapest with no other partition of 11.
    (pj,) = _multislot_plan((0, 0, 0, 1), max_order=12).jets
    assert stde.planning.expand_jet(pj.jet) == {(0, 0, 0, 1): 1 / pj.weight}


def test_planner_takes_the_cheaper_verified_plan():
    from stde._planning import _finite_difference_plan, _multislot_plan

    for index in [(0, 1), (0, 0, 1), (0, 0, 0, 1), (0, 0, 0, 0, 0, 1), (0, 0, 1, 1, 1, 1)]:
        plan = stde.planning.plan_partial(index)
        assert combine(plan.jets) == {index: 1}
        candidates = [_finite_difference_plan(index)]
        multislot = _multislot_plan(index, max_order=min(3 * len(index), 16))
        if multislot is not None:
            candidates.append(multislot)
        assert plan.cost == min(c.cost for c in candidates)


def test_verify_rejects_a_contaminated_plan():
    jet = stde.planning.Jet(9, ((2, e(0)), (3, e(1))))
    bad = stde.planning.Plan(
        {(0, 0, 0, 1): Fraction(1)}, (PlannedJet(jet, Fraction(1, 1260)),), "bad"
    )
    with pytest.raises(AssertionError, match="jet plan is wrong"):
        verify(bad)
