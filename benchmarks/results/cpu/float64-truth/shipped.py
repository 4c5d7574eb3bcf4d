"""Every shipped solver scored as its model card says (u* in float32, the evaluation
until 2026-12-04) beside the evaluation now (u* in float64), on the card's test points:

    python benchmarks/results/cpu/float64-truth/shipped.py > shipped.jsonl
"""

import json

import zoo

for name in zoo.pretrained_names():
    solver = zoo.load(name)
    card = solver.card
    if not card.get("n_points"):
        print(json.dumps(dict(name=name, skipped="point evaluation")), flush=True)
        continue
    now = zoo.evaluate(solver, card["n_points"])
    record = dict(
        name=name,
        card_rel_l2=card["rel_l2"],
        float64_truth=now["rel_l2"],
        card_ratio=card["rel_l2"] / card["trivial_rel_l2"],
        f64_ratio=now["rel_l2"] / now["trivial_rel_l2"],
    )
    print(json.dumps(record), flush=True)
