"""The markdown table of this directory's runs (`scripts/finetune_vs_scratch.py` outputs):
per PDE and seed, the from-scratch 300-step error, the 150-step fine-tune's, their ratio
and the first evaluation (every 25 steps) at which the fine-tune reached the scratch
error. Usage: python benchmarks/results/cpu/finetune-readouts/table.py"""

import json
from pathlib import Path

here = Path(__file__).parent
print(
    "| PDE | seed | from scratch, 300 steps | fine-tune, 150 steps | against scratch | "
    "reaches it at step |"
)
print("|---|---:|---:|---:|---:|---:|")
for path in sorted(here.glob("*-seed*.json")):
    result = json.loads(path.read_text())
    (name,) = (n for n in result["runs"] if n != "scratch")
    run = result["runs"][name]
    scratch = result["scratch_final_rel_l2"]
    reached = run["steps_to_scratch_final"]
    print(
        f"| {result['pde']} | {result['pde_seed']} | {scratch:.3g} | {run['final_rel_l2']:.3g} "
        f"| {run['final_rel_l2'] / scratch:.2f} | {'–' if reached is None else reached} |"
    )
