"""The bootstrap tokenizer: byte-level BPE with ChatML specials and a template TRL can mask."""

from __future__ import annotations

from pathlib import Path

from transformers import AutoTokenizer

from docflywheel.bootstrap.tokenizer import train_tokenizer

TEXTS = ["Return the sum of a and b.", "def add(a, b):\n    return a + b\n", "Open the file and read it."] * 50


def test_chat_template_is_chatml_with_assistant_mask(micro_model: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(micro_model)
    assert (tokenizer.eos_token, tokenizer.pad_token) == ("<|im_end|>", "<|pad|>")
    for special in ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"):
        assert len(tokenizer(special, add_special_tokens=False)["input_ids"]) == 1
    chat = [{"role": "user", "content": "Document f."}, {"role": "assistant", "content": "Return one."}]
    text = tokenizer.apply_chat_template(chat, tokenize=False)
    assert text == "<|im_start|>user\nDocument f.<|im_end|>\n<|im_start|>assistant\nReturn one.<|im_end|>\n"
    prompt = tokenizer.apply_chat_template(chat[:1], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")
    plain = tokenizer.apply_chat_template(chat, return_dict=True)
    masked = tokenizer.apply_chat_template(chat, return_dict=True, return_assistant_tokens_mask=True)
    assert masked["input_ids"] == plain["input_ids"]
    answer = [i for i, m in zip(masked["input_ids"], masked["assistant_masks"], strict=True) if m]
    assert tokenizer.decode(answer) == "Return one.<|im_end|>"


def test_trained_tokenizer_round_trips_text_and_is_deterministic() -> None:
    first, again = train_tokenizer(TEXTS, 300), train_tokenizer(TEXTS, 300)
    assert first.backend_tokenizer.to_str() == again.backend_tokenizer.to_str()
    text = "def add(a, b):\n    return a + b  # é, ünïcode"
    assert first.decode(first(text)["input_ids"]) == text
    assert len(first) <= 300
