from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from docflywheel.bootstrap import SHIPPED
from docflywheel.models.base import GenerationRequest, ModelSpec
from docflywheel.models.hf import HFBackend


def test_batched_greedy_generation_matches_one_at_a_time(micro_model: Path,
                                                         doc_requests: list[GenerationRequest]) -> None:
    backend = HFBackend(ModelSpec("hf", str(micro_model)), batch_size=16, device="cpu")
    batched = backend.generate(doc_requests)
    alone = [backend.generate([request])[0] for request in doc_requests]
    assert [c.text for c in batched] == [c.text for c in alone]
    assert [c.tokens_in for c in batched] == [c.tokens_in for c in alone]
    # Left padding: the shortest prompt shared its batch with one twice as long and still matched.
    lengths = [c.tokens_in for c in batched]
    assert max(lengths) >= 2 * min(lengths)
    assert all(0 < c.tokens_out <= 24 for c in batched)
    assert all(c.finish_reason == "stop" or (c.finish_reason, c.tokens_out) == ("length", 24) for c in batched)


def test_chunks_of_batch_size_keep_the_request_order(micro_model: Path, doc_requests: list[GenerationRequest]) -> None:
    whole = HFBackend(ModelSpec("hf", str(micro_model)), batch_size=16, device="cpu").generate(doc_requests)
    mixed = doc_requests[:3] + [replace(r, max_new_tokens=8) for r in doc_requests[3:]]
    chunked = HFBackend(ModelSpec("hf", str(micro_model)), batch_size=3, device="cpu").generate(mixed)
    assert [c.tokens_in for c in chunked] == [c.tokens_in for c in whole]
    assert [c.text for c in chunked[:3]] == [c.text for c in whole[:3]]
    assert all(c.tokens_out <= 8 for c in chunked[3:])


def test_sampling_depends_on_the_request_seed_not_its_batch(micro_model: Path,
                                                            doc_requests: list[GenerationRequest]) -> None:
    backend = HFBackend(ModelSpec("hf", str(micro_model)), batch_size=16, device="cpu")
    sampled = [replace(r, temperature=1.0, top_p=0.95, seed=i) for i, r in enumerate(doc_requests)]
    batched = [c.text for c in backend.generate(sampled)]
    assert batched == [backend.generate([r])[0].text for r in sampled]
    assert batched[:2] == [c.text for c in backend.generate(sampled[:2])]
    reseeded = [c.text for c in backend.generate([replace(r, seed=100 + i) for i, r in enumerate(sampled)])]
    assert reseeded != batched


def test_a_prompt_longer_than_the_context_is_left_truncated(micro_model: Path) -> None:
    backend = HFBackend(ModelSpec("hf", str(micro_model)), device="cpu")
    context = backend.model.config.max_position_embeddings
    long = GenerationRequest([{"role": "user", "content": "Document this code: " + "x = 1\n" * context}],
                             max_new_tokens=16)
    completion = backend.generate([long])[0]
    assert completion.finish_reason in ("stop", "length")
    assert completion.tokens_in == context - 16


def test_an_adapter_changes_greedy_output(micro_model: Path, micro_adapter: Path,
                                          doc_requests: list[GenerationRequest]) -> None:
    base = HFBackend(ModelSpec("hf", str(micro_model)), device="cpu").generate(doc_requests)
    tuned = HFBackend(ModelSpec("hf", str(micro_model), adapter=str(micro_adapter)), device="cpu")
    adapted = tuned.generate(doc_requests)
    assert [c.text for c in adapted] != [c.text for c in base]
    assert [c.tokens_in for c in adapted] == [c.tokens_in for c in base]
    assert all(c.finish_reason == "stop" or c.tokens_out == 24 for c in adapted)


def test_a_row_that_stops_leaves_the_batch(doc_requests: list[GenerationRequest]) -> None:
    # The tiny model that ships with the package (fixed weights) answers these prompts at quite different
    # lengths; the micro model, trained in the session, runs every greedy answer to the limit.
    backend = HFBackend(ModelSpec("hf", str(SHIPPED / "tiny")), batch_size=16, device="cpu")
    requests = [replace(r, max_new_tokens=32) for r in doc_requests]
    rows_per_pass: list[int] = []
    hook = backend.model.get_input_embeddings().register_forward_hook(
        lambda module, args, output: rows_per_pass.append(args[0].shape[0]))
    try:
        lengths = [c.tokens_out for c in backend.generate(requests)]
    finally:
        hook.remove()
    assert len(set(lengths)) > 1, f"the rows must stop at different steps for this test to mean anything: {lengths}"
    # One pass over the prompts, then each pass computes only the rows that have not yet written their last token.
    assert rows_per_pass == [len(requests)] + [sum(n > step for n in lengths) for step in range(1, max(lengths))]
