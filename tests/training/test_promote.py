"""Promotion: a challenger must win with confidence and regress on no jury member."""

from __future__ import annotations

from docflywheel.eval.heldout import Evaluation
from docflywheel.store import Store
from docflywheel.training.promote import compare, current_champion, model_row

TASKS = [f"t{i}" for i in range(30)]


def _evaluation(model: str, shift: float, member_shift: float = 0.0) -> Evaluation:
    scores = {t: 2.0 + (i % 5) * 0.2 + shift for i, t in enumerate(TASKS)}
    members = {"verifier/length": {t: 3.0 + member_shift for t in TASKS},
               "reference/similarity": {t: s for t, s in scores.items()}}
    return Evaluation(model=model, scores=scores, members=members, generations=60, unscored=0)


def test_a_clear_gain_is_promoted_and_a_wash_is_not() -> None:
    champion = _evaluation("old", 0.0)
    better = compare(_evaluation("new", 0.3), champion)
    assert better.promoted and better.delta.ci_low > 0 and better.tasks == 30
    noisy = _evaluation("noisy", 0.0)
    noisy.scores.update({t: noisy.scores[t] + (0.5 if i % 2 else -0.5) for i, t in enumerate(TASKS)})
    assert not compare(noisy, champion).promoted


def test_a_gain_that_forgets_a_criterion_is_not_promoted() -> None:
    result = compare(_evaluation("new", 0.3, member_shift=-1.0), _evaluation("old", 0.0), tolerance=0.25)
    assert result.delta.ci_low > 0 and not result.promoted
    assert result.regressions == {"verifier/length": -1.0}


def test_the_champion_is_the_model_the_latest_iteration_names(store: Store) -> None:
    assert current_champion(store) is None
    first, second = model_row("hf:/m", "base"), model_row("hf:/m#/runs/a", "champion")
    assert second["adapter"] == "/runs/a" and second["base_model"] == "hf:/m"
    store.insert("models", [first, second])
    store.insert("iterations", [{"id": "i0", "iteration": 0, "champion_model_id": first["id"], "metrics": {}},
                                {"id": "i1", "iteration": 1, "champion_model_id": second["id"], "metrics": {}}])
    assert current_champion(store) == "hf:/m#/runs/a"
