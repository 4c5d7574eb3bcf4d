r"""Jet planning: which univariate Taylor jets to push, and how to combine them.

Taylor mode in JAX uses derivative-scaled series: the input curve is
$g(t) = x + \sum_k v_k t^k / k!$ and the outputs are $y_k = d^k/dt^k f(g(t))|_{t=0}$. By
Faà di Bruno, $y_K$ is a sum over the partitions of $K$ into the slot sizes that carry a
direction; each partition with $p_j$ parts of size $j$ contributes
$K! / \prod_j (p_j! (j!)^{p_j}) \cdot D^{\sum p_j} f[v_j \text{ repeated } p_j \text{ times}]$.

Everything here is exact rational arithmetic on small static objects: a plan is computed
once at trace time, checked by expanding every jet symbolically, and never copied from a
table.
"""

import itertools
import math
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction

from ._checks import check_int, is_int

# A direction is a sparse vector: ((coordinate, coefficient), ...), coordinates sorted.
Direction = tuple[tuple[int, Fraction], ...]
# A multi-index is the sorted tuple of the coordinates differentiated: u_{x0 x0 x2} = (0, 0, 2).
MultiIndex = tuple[int, ...]


@dataclass(frozen=True)
class Jet:
    """One input jet: a direction in each slot (1-based), pushed to output order `order`."""

    order: int
    slots: tuple[tuple[int, Direction], ...]  # ((slot, direction), ...), slots ascending

    def __post_init__(self):
        check_int(self.order, "Jet(order=...)")
        # Slots above `order` are allowed: `y_order` is then a lower coefficient of a
        # longer jet (e.g. `y_3` of the 7-jet with slots 2 and 3).
        bad = [s for s, _ in self.slots if not is_int(s) or s < 1]
        if bad:
            raise ValueError(f"`Jet(slots=...)` must use int slots >= 1, got slot {bad[0]!r}.")

    def __str__(self):
        parts = []
        for slot, direction in self.slots:
            vec = " + ".join((f"{c}*" if c != 1 else "") + f"e{i}" for i, c in direction)
            parts.append(f"slot {slot}: {vec}")
        return f"{self.order}-jet [{'; '.join(parts)}]"


@dataclass(frozen=True)
class PlannedJet:
    jet: Jet
    weight: Fraction


@dataclass(frozen=True)
class Plan:
    """A verified linear combination of jets whose top coefficients give a target."""

    target: dict  # MultiIndex -> Fraction
    jets: tuple[PlannedJet, ...]
    method: str

    def __str__(self):
        lines = [f"plan ({self.method}) for {_format_combination(self.target)}:"]
        for pj in self.jets:
            lines.append(f"  {pj.weight} * y_{pj.jet.order} of {pj.jet}")
        return "\n".join(lines)

    @property
    def cost(self) -> int:
        # A jet of order K costs ~ K^3 per elementwise primitive (its Faà di Bruno rule sums
        # over the Bell polynomials), and jets of one order share a collapsed pass; measured
        # on the 1D KdV partials, single jets of order 11 lost to finite differences.
        return sum(pj.jet.order**3 for pj in self.jets)


def _format_combination(comb):
    return " + ".join(f"{c} u_{''.join(f'x{i}' for i in mi)}" for mi, c in sorted(comb.items()))


def _partitions(total: int, parts: tuple[int, ...]):
    """All multiplicities p (dict part -> count) with sum_j j p_j = total, parts distinct."""
    if not parts:
        if total == 0:
            yield {}
        return
    first, rest = parts[0], parts[1:]
    for count in range(total // first + 1):
        for p in _partitions(total - count * first, rest):
            yield {first: count, **p} if count else p


def expand_jet(jet: Jet) -> dict:
    """The exact linear combination of partial derivatives that `y_order` of `jet` equals.

    **Returns:** a dict mapping multi-indices (sorted coordinate tuples) to `Fraction`
    coefficients; zero coefficients are dropped.
    """
    directions = dict(jet.slots)
    result: Counter = Counter()
    order = jet.order
    for p in _partitions(order, tuple(sorted(directions))):
        coef = Fraction(math.factorial(order))
        for j, pj in p.items():
            coef /= math.factorial(pj) * math.factorial(j) ** pj
        # D^m f[v_j repeated p_j times] expanded multilinearly into coordinate partials.
        factors = [directions[j] for j, pj in sorted(p.items()) for _ in range(pj)]
        for choice in itertools.product(*factors):
            mi = tuple(sorted(i for i, _ in choice))
            c = coef
            for _, ci in choice:
                c *= ci
            result[mi] += c
    return {mi: c for mi, c in result.items() if c != 0}


def combine(jets: tuple[PlannedJet, ...]) -> dict:
    """The combination of partials that a weighted sum of jets' top coefficients equals."""
    total: Counter = Counter()
    for pj in jets:
        for mi, c in expand_jet(pj.jet).items():
            total[mi] += pj.weight * c
    return {mi: c for mi, c in total.items() if c != 0}


def _finite_difference_plan(mi: MultiIndex) -> Plan:
    """Single-slot jets on the lattice $0 \\le k \\le n$, combined by a finite difference.

    $y_K(\\sum_a k_a e_a) = P(k)$ is a homogeneous polynomial of degree $K = |n|$ whose
    coefficient of $k^n$ is $(K!/n!) \\partial^n u$; the mixed forward difference
    $\\Delta^n P = \\sum_k (-1)^{|n-k|} \\binom{n}{k} P(k)$ equals $n!$ times that coefficient,
    because every other degree-$K$ monomial is annihilated.
    """
    counts = Counter(mi)
    coords = sorted(counts)
    order = len(mi)
    jets = []
    for ks in itertools.product(*(range(counts[c] + 1) for c in coords)):
        if not any(ks):
            continue
        sign = (-1) ** (order - sum(ks))
        weight = Fraction(sign, math.factorial(order))
        for c, k in zip(coords, ks):
            weight *= math.comb(counts[c], k)
        direction = tuple((c, Fraction(k)) for c, k in zip(coords, ks) if k)
        jets.append(PlannedJet(Jet(order, ((1, direction),)), weight))
    return Plan({mi: Fraction(1)}, tuple(jets), "finite differences of pure directional jets")


def _multislot_plan(mi: MultiIndex, max_order: int) -> Plan | None:
    """One jet with coordinate $a$ alone in slot $s_a$, when no other partition of
    $K' = \\sum_a n_a s_a$ into the chosen slot sizes exists (no contamination)."""
    counts = Counter(mi)
    coords = sorted(counts)
    best = None
    for slots in itertools.permutations(range(1, max_order + 1), len(coords)):
        total = sum(counts[c] * s for c, s in zip(coords, slots))
        if total > max_order or (best is not None and total >= best.order):
            continue
        jet = Jet(
            total,
            tuple(sorted((s, ((c, Fraction(1)),)) for c, s in zip(coords, slots))),
        )
        expansion = expand_jet(jet)
        if set(expansion) == {mi}:
            best = jet
    if best is None:
        return None
    weight = 1 / expand_jet(best)[mi]
    return Plan({mi: Fraction(1)}, (PlannedJet(best, weight),), "one multi-slot jet")


def plan_partial(mi: MultiIndex) -> Plan:
    """A verified plan for one mixed partial derivative, the cheaper of the candidates.

    `mi` is the multi-index as the coordinates differentiated, e.g. `(0, 0, 2)` for
    $u_{x_0 x_0 x_2}$.
    """
    given = mi
    try:
        mi = tuple(mi)
    except TypeError:
        mi = None
    if not mi or not all(is_int(i) and i >= 0 for i in mi):
        raise ValueError(
            "`mi` must be a non-empty tuple of non-negative int coordinates, e.g. (0, 0, 2), "
            f"got {given!r}."
        )
    mi = tuple(sorted(mi))
    if len(set(mi)) == 1:
        jet = Jet(len(mi), ((1, ((mi[0], Fraction(1)),)),))
        plan = Plan({mi: Fraction(1)}, (PlannedJet(jet, Fraction(1)),), "pure directional jet")
    else:
        candidates = [_finite_difference_plan(mi)]
        multislot = _multislot_plan(mi, max_order=min(3 * len(mi), 16))
        if multislot is not None:
            candidates.append(multislot)
        plan = min(candidates, key=lambda p: (p.cost, len(p.jets)))
    verify(plan)
    return plan


def verify(plan: Plan):
    """Raise if the plan's jets do not combine to exactly its target."""
    got = combine(plan.jets)
    if got != plan.target:
        raise AssertionError(
            f"jet plan is wrong: it computes {_format_combination(got)}, "
            f"not {_format_combination(plan.target)}"
        )
