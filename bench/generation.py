"""Batched against one-at-a-time generation, per backend, measured in one run.

    python bench/generation.py [--model PATH] [--prompts 16] [--max-new-tokens 64] [--backends hf,vllm,openai]

Each backend answers the same greedy prompts twice: all at once (one batch; for the server, all in
flight together) and one request after another. Prints seconds, tokens/s, the speed-up and whether
both ways wrote the same text.
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from docflywheel.config import ModelsConfig
from docflywheel.models.base import Completion, GenerationRequest, ModelSpec

SOURCES = ["def add(a, b):\n    return a + b",
           "class Stack:\n    def push(self, item):\n        self.items.append(item)",
           "def read(path):\n    with open(path) as f:\n        return f.read()",
           "import json\n\ndef load(text):\n    return json.loads(text)",
           "def mean(xs):\n    return sum(xs) / len(xs)", "async def fetch(url):\n    ...",
           "def retry(fn, times=3):\n    for _ in range(times):\n        try:\n            return fn()\n"
           "        except OSError:\n            pass", "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))"]


@dataclass
class Row:
    backend: str
    batched_s: float
    single_s: float
    batched_tokens: int
    single_tokens: int
    same_text: bool


def prompts(count: int, max_new_tokens: int) -> list[GenerationRequest]:
    return [GenerationRequest([{"role": "system", "content": "You write Python docstrings."},
                               {"role": "user", "content": f"Document this code (#{i}):\n{SOURCES[i % len(SOURCES)]}"}],
                              max_new_tokens=max_new_tokens) for i in range(count)]


def measure(name: str, batched: Callable[[], list[Completion]], single: Callable[[], list[Completion]]) -> Row:
    batched()  # warm-up: first calls compile kernels and fill caches
    started = time.perf_counter()
    together = batched()
    batched_s = time.perf_counter() - started
    started = time.perf_counter()
    alone = single()
    single_s = time.perf_counter() - started
    errors = [c.error for c in together + alone if c.finish_reason == "error"]
    if errors:
        raise SystemExit(f"{name}: {len(errors)} requests failed, first: {errors[0]}")
    return Row(name, batched_s, single_s, sum(c.tokens_out for c in together), sum(c.tokens_out for c in alone),
               [c.text for c in together] == [c.text for c in alone])


def bench_hf(model: Path, requests: list[GenerationRequest]) -> Row:
    from docflywheel.models.hf import HFBackend

    backend = HFBackend(ModelSpec("hf", str(model)), batch_size=len(requests), device="cpu")
    return measure("transformers", lambda: backend.generate(requests),
                   lambda: [backend.generate([r])[0] for r in requests])


def bench_vllm(model: Path, requests: list[GenerationRequest]) -> Row:
    from docflywheel.models.vllm_backend import VLLMBackend

    backend = VLLMBackend(ModelSpec("vllm", str(model)))
    try:
        return measure("vllm offline", lambda: backend.generate(requests),
                       lambda: [backend.generate([r])[0] for r in requests])
    finally:
        backend.close()


def bench_openai(model: Path, requests: list[GenerationRequest]) -> Row:
    from docflywheel.models.openai_backend import OpenAIBackend
    from docflywheel.models.vllm_server import start_server

    log = Path(tempfile.mkdtemp(prefix="bench-vllm-")) / "server.log"
    with start_server(model, log_path=log, served_model_name="bench") as server:
        spec = ModelSpec("openai", "bench", base_url=server.base_url)
        together = OpenAIBackend(spec, concurrency=len(requests))
        alone = OpenAIBackend(spec, concurrency=1)
        return measure("openai -> vllm server", lambda: together.generate(requests),
                       lambda: alone.generate(requests))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ModelsConfig().cache_dir / "tiny",
                        help="a local model folder (default: the bootstrapped tiny model)")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--backends", default="hf,vllm,openai", help="comma-separated: hf, vllm, openai")
    args = parser.parse_args()
    if not (args.model / "config.json").exists():
        raise SystemExit(f"no model at {args.model}: run `docflywheel bootstrap --size tiny` or pass --model PATH")
    requests = prompts(args.prompts, args.max_new_tokens)
    wanted = args.backends.split(",")
    has_vllm = importlib.util.find_spec("vllm") is not None
    runs = {"hf": bench_hf, "vllm": bench_vllm, "openai": bench_openai}
    rows = []
    for name in wanted:
        if name in ("vllm", "openai") and not has_vllm:
            print(f"{name}: skipped, vLLM is not installed (pip install 'docflywheel[vllm]')")
            continue
        rows.append(runs[name](args.model, requests))
    print(f"\n{args.prompts} prompts x up to {args.max_new_tokens} new tokens, greedy, model {args.model}")
    print(f"{'backend':<24}{'batched s':>10}{'single s':>10}{'speed-up':>10}{'tok/s batched':>15}"
          f"{'tok/s single':>14}{'same text':>11}")
    for row in rows:
        print(f"{row.backend:<24}{row.batched_s:>10.2f}{row.single_s:>10.2f}{row.single_s / row.batched_s:>9.1f}x"
              f"{row.batched_tokens / row.batched_s:>15.0f}{row.single_tokens / row.single_s:>14.0f}"
              f"{'yes' if row.same_text else 'no':>11}")


if __name__ == "__main__":
    main()
