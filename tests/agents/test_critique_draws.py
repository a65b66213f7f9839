"""A critique's random choices hang on the sample, not on where the model that wrote it is stored."""

from __future__ import annotations

from docflywheel.agents.constitution import load_constitution
from docflywheel.agents.critique import choose_principle, draw_key
from docflywheel.records import Generation


def _generation(model: str, seed: int = 7, index: int = 1) -> Generation:
    return Generation(task_id="t1", text="Adds two numbers.", model=model, prompt_hash="p", seed=seed,
                      sample_index=index, iteration=1)


def test_the_same_sample_draws_the_same_principle_from_any_folder_and_other_samples_can_differ() -> None:
    here, there = _generation("hf:/home/ann/.cache/docflywheel/models/tiny"), _generation("hf:/ci/cache/tiny")
    assert here.id != there.id and draw_key(here) == draw_key(there)
    constitution = load_constitution()
    picks = {choose_principle(_generation("hf:/x", seed=s), [], constitution, seed=0)[0].id for s in range(40)}
    assert choose_principle(here, [], constitution, 0)[0] == choose_principle(there, [], constitution, 0)[0]
    assert len(picks) > 1  # the draw does depend on the sample
