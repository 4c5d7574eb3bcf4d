"""Jet planning, for inspection: which univariate Taylor jets a mixed partial is computed
from, and what each jet's top coefficient equals.

Nothing here is needed to use `stde`: `stde.Partial` (and `stde.estimate`) plan their jets
themselves. These are the planner's own objects, kept in a submodule so the top-level
namespace holds what a user calls; see [Engines and jet planning](../concepts/engines.md).
"""

from ._planning import (
    Jet as Jet,
    Plan as Plan,
    expand_jet as expand_jet,
    plan_partial as plan_partial,
)
