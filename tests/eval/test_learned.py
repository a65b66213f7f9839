"""The learned judge on a subset of Crupi et al.'s Python set, with real embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from docflywheel.errors import InputError
from docflywheel.eval.agreement import ordinal_alpha
from docflywheel.eval.benchmark import crupi_groups
from docflywheel.eval.human_data import CRUPI_CRITERIA, CrupiItem, load_crupi
from docflywheel.eval.judges.learned import (MASK, LearnedJudge, cross_validate, feature_set_hash, features,
                                              masked_summary)

SUBSET = 66


@pytest.fixture(scope="module")
def crupi(human_data: Path) -> tuple[list[CrupiItem], np.ndarray]:
    items = load_crupi(human_data / "crupi2025_code_summarization_python" / "CS-benchmark-Python.csv")[:SUBSET]
    return items, features(items)


def test_cross_validation_never_scores_an_item_with_a_model_that_saw_it(crupi) -> None:
    items, x = crupi
    targets = {c: [i.median(c) for i in items] for c in CRUPI_CRITERIA}
    groups = crupi_groups(items)
    cv = cross_validate(items, targets, groups, x=x, n_splits=5, seed=0)
    assert set(cv.folds.tolist()) == set(range(5))
    for group in set(groups.tolist()):
        assert len(set(cv.folds[groups == group].tolist())) == 1, f"function {group} split across folds"
    # the model of fold k trained exactly on items outside fold k: refit it and get the same ratings
    test = cv.folds == 2
    judge = LearnedJudge().fit_features(x[~test], {c: np.asarray(v)[~test] for c, v in targets.items()})
    np.testing.assert_array_equal(judge.predict_features(x[test])["conciseness"], cv.predictions["conciseness"][test])
    for c in CRUPI_CRITERIA:
        assert set(np.unique(cv.predictions[c])) <= set(range(1, 6))


def test_a_judge_distilled_from_another_judges_labels_reproduces_them(crupi) -> None:
    items, x = crupi
    # a stand-in LLM judge that rates by summary length: labels the features can express
    words = np.array([len(i.summary.split()) for i in items])
    llm = 1 + np.searchsorted(np.quantile(words, [0.2, 0.4, 0.6, 0.8]), words)
    cv = cross_validate(items, {"llm": llm}, crupi_groups(items), x=x)
    assert ordinal_alpha(cv.predictions["llm"], llm).value > 0.8


def test_cross_validated_judge_beats_chance(crupi) -> None:
    items, x = crupi
    median = np.array([i.median("content_adequacy") for i in items])
    cv = cross_validate(items, {"content_adequacy": median}, crupi_groups(items), x=x)
    assert ordinal_alpha(cv.predictions["content_adequacy"], median).value > 0.2


def test_save_and_load_keep_predictions_and_identity(crupi, tmp_path: Path) -> None:
    items, x = crupi
    judge = LearnedJudge().fit_features(x, {"fluency": [i.median("fluency") for i in items]}, "abc")
    judge.save(tmp_path / "judge.joblib")
    loaded = LearnedJudge.load(tmp_path / "judge.joblib")
    assert loaded.identity == judge.identity and loaded.identity.kind == "learned"
    assert loaded.describe() == {"kind": "learned", "model": "ridge+tfidf on sentence-transformers/all-MiniLM-L6-v2",
                                 "version": "3", "feature_set": feature_set_hash(), "training_data": "abc"}
    np.testing.assert_array_equal(loaded.predict_features(x)["fluency"], judge.predict_features(x)["fluency"])


def test_unfitted_judge_and_bad_targets_are_refused(crupi) -> None:
    items, x = crupi
    with pytest.raises(InputError, match="not fitted"):
        LearnedJudge().predict_features(x)
    with pytest.raises(InputError, match="one finite rating per item"):
        LearnedJudge().fit_features(x, {"fluency": [3.0]})


def test_summary_words_naming_the_code_are_masked_and_the_rest_kept() -> None:
    code = "def parse_subparser_arguments(unparsed_arguments, subparsers):\n    return dict(subparsers)"
    masked = masked_summary(code, "Parses the arguments with each subparser and returns a dict.")
    assert masked == f"Parses the {MASK} with each {MASK} and returns a {MASK}."
    # whole identifiers and camel-case words made of the code's subtokens go too; keywords like "if" never do
    assert masked_summary("def getUserName(user_id): ...", "Get the userName if user_id is set") == \
        f"{MASK} the {MASK} if {MASK} is set"
