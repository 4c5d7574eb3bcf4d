"""Research helpers beside the catalogue: the trivial-fit baseline that every reported
error is compared with, the published reference values, and the reference cache.

A PDE does not need them to be solved; they are what the zoo's reports and the
experiments in this repository measure against (see the [FAQ](../faq.md)).
"""

from ._kdv import cache_dir as cache_dir
from ._parabolic import REFERENCE_VALUES as REFERENCE_VALUES
from ._trivial import (
    TrivialFitStats as TrivialFitStats,
    trivial_fit_formula as trivial_fit_formula,
    trivial_fit_stats as trivial_fit_stats,
    trivial_rel_l2 as trivial_rel_l2,
)
