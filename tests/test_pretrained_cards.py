"""Every shipped pretrained solver was trained with its registry entry's configuration:
the model card (written by `zoo.export_pretrained` from the run) and the entry
(`zoo.get_pretrained`) agree, so retraining an entry with `scripts/train_pretrained.py`
reproduces what ships."""

import json
from pathlib import Path

import pytest

import zoo

PRETRAINED = Path(zoo.__file__).parent / "pretrained"


@pytest.mark.parametrize("name", zoo.pretrained_names())
def test_card_matches_the_registry_entry(name):
    card_path = PRETRAINED / f"{name}.json"
    if not card_path.is_file():
        pytest.skip(f"{name} is not shipped in this installation")
    card = json.loads(card_path.read_text())
    entry = zoo.get_pretrained(name)
    assert zoo.TrainConfig.from_dict(card["train"]) == entry.train
    run = entry.run_config()
    assert card["pde"] == run.pde.to_dict()
    # Through `from_dict`: cards written before a field existed hold its default.
    assert zoo.ModelConfig.from_dict(card["model"]) == run.model
    assert card["steps"] == entry.train.steps
