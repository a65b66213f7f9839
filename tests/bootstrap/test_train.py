"""Bootstrap training end to end on the micro size: it learns, saves, reloads, generates, and repeats exactly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from docflywheel.bootstrap import CARD, SIZES, bootstrap_model
from docflywheel.bootstrap.corpus import Example
from docflywheel.bootstrap.train import IGNORE, collate, encode, masked_loss, pack
from docflywheel.errors import InputError


def _card(path: Path) -> dict:
    return json.loads((path / CARD).read_text(encoding="utf-8"))


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path / "model.safetensors"))


def test_micro_model_learns_and_records_its_run(micro_model: Path) -> None:
    card = _card(micro_model)
    losses = [entry["loss"] for entry in card["log"]]
    assert losses[0] == pytest.approx(math.log(card["recipe"]["vocab"]), abs=0.5)
    assert losses[-1] < losses[0] - 0.8
    assert math.isfinite(card["val_loss"]) and card["val_loss"] < losses[0]
    assert card["steps"] == SIZES["micro"].steps
    assert card["command"] == f"docflywheel bootstrap --size micro --seed 0 --steps {card['steps']}"
    assert card["tokens_seen"] > card["steps"] * SIZES["micro"].batch_rows * 100
    assert card["corpus"]["train_examples"] > 50 and card["corpus"]["val_examples"] > 0


def test_micro_model_reloads_and_generates(micro_model: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(micro_model)
    model = AutoModelForCausalLM.from_pretrained(micro_model)
    assert model.config.tie_word_embeddings and model.config.model_type == "llama"
    assert sum(p.numel() for p in model.parameters()) == _card(micro_model)["parameters"]
    assert model.generation_config.eos_token_id == tokenizer.convert_tokens_to_ids("<|im_end|>")
    messages = [{"role": "user", "content": "Write the documentation for this python function `m.add`."}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True)
    out = model.generate(**inputs, max_new_tokens=16, do_sample=False)
    new = out[0, inputs["input_ids"].shape[1]:]
    assert 0 < len(new) <= 16
    assert isinstance(tokenizer.decode(new, skip_special_tokens=True), str)


def test_packed_examples_do_not_see_each_other(micro_model: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(micro_model)
    model = AutoModelForCausalLM.from_pretrained(micro_model).eval()
    examples = [Example("m.f", "Document f.", "Return the sum of a and b.", "train"),
                Example("m.g", "Document g, please.", "Open the file and read it.", "train")]
    encoded = encode(examples, tokenizer, 256)
    assert all(IGNORE in labels and any(t != IGNORE for t in labels) for _, labels in encoded)
    rows = pack(encoded, 256)
    assert len(rows.ids) == 1
    pad = tokenizer.pad_token_id
    with torch.no_grad():
        together, n = masked_loss(model, collate(rows, [0], pad))
        alone = [masked_loss(model, collate(pack([e], 256), [0], pad)) for e in encoded]
    assert n == sum(k for _, k in alone)
    assert together.item() == pytest.approx(sum(loss.item() * k for loss, k in alone) / n, rel=1e-5)


def test_same_seed_gives_identical_weights_and_other_seeds_do_not(micro_model: Path, tmp_path: Path) -> None:
    again = bootstrap_model("micro", tmp_path / "again", seed=0, show_progress=False)
    first, second = _weights(micro_model), _weights(again.path)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[name], second[name]) for name in first)
    assert again.train_loss == _card(micro_model)["train_loss"]
    other = bootstrap_model("micro", tmp_path / "other", seed=1, steps=3, show_progress=False)
    assert not torch.equal(first["model.layers.0.mlp.up_proj.weight"],
                           _weights(other.path)["model.layers.0.mlp.up_proj.weight"])


def test_a_time_cap_records_the_steps_that_reproduce_it(tmp_path: Path) -> None:
    capped = bootstrap_model("micro", tmp_path / "capped", seed=2, minutes=0.05, show_progress=False)
    assert 1 <= capped.steps <= SIZES["micro"].steps
    command = _card(capped.path)["command"]
    assert command.endswith(f"--steps {capped.steps}")
    repeat = bootstrap_model("micro", tmp_path / "repeat", seed=2, steps=capped.steps, show_progress=False)
    first, second = _weights(capped.path), _weights(repeat.path)
    assert all(torch.equal(first[name], second[name]) for name in first)


def test_retraining_replaces_a_model_but_never_a_foreign_folder(tmp_path: Path) -> None:
    out = tmp_path / "m"
    bootstrap_model("micro", out, steps=2, show_progress=False)
    result = bootstrap_model("micro", out, steps=3, show_progress=False)
    assert _card(out)["steps"] == result.steps == 3
    assert not (tmp_path / "m.partial").exists()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="not a bootstrapped model"):
        bootstrap_model("micro", foreign, steps=2, show_progress=False)
    assert (foreign / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"size": "huge"}, "unknown bootstrap size 'huge'"),
    ({"size": "micro", "steps": 0}, "steps must"),
    ({"size": "micro", "minutes": -1.0}, "minutes must"),
])
def test_bad_arguments_are_one_line_input_errors(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        bootstrap_model(out_dir=tmp_path / "x", show_progress=False, **kwargs)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.partial").exists()


def test_the_shipped_tiny_model_is_provided_once_and_generates(tmp_path: Path) -> None:
    from docflywheel.bootstrap import SHIPPED, provide_model
    from docflywheel.config import GenerationConfig
    from docflywheel.models import load_backend
    from docflywheel.models.base import GenerationRequest

    card = json.loads((SHIPPED / "tiny" / "bootstrap.json").read_text())
    assert card["command"] == f"docflywheel bootstrap --size tiny --seed 0 --steps {card['steps']}"
    folder, how = provide_model("tiny", tmp_path / "tiny")
    assert how == "shipped" and provide_model("tiny", folder)[1] == "cached"
    backend = load_backend(f"hf:{folder}", GenerationConfig(max_new_tokens=8), tmp_path)
    [reply] = backend.generate([GenerationRequest([{"role": "user", "content": "Document: def f(x): return x"}],
                                                  max_new_tokens=8, temperature=0.0)])
    assert reply.tokens_out and reply.finish_reason != "error"


def test_the_progress_bar_goes_to_stderr_so_stdout_stays_machine_readable(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    # `docflywheel run --json` may train a missing model on the way: its bar must not land in the JSON.
    bootstrap_model("micro", tmp_path / "m", seed=0, steps=2, show_progress=True)
    out, err = capfd.readouterr()
    assert "tok/s" not in out and "tok/s" in err
