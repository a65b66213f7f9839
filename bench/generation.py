"""Batched against one-at-a-time generation, per backend, measured in one run.

    python bench/generation.py [--models tiny,small] [--untrained 1024:12] [--threads 1] [--prompts 16]
                               [--max-new-tokens 64] [--backends hf,vllm,openai]

Each backend answers the same greedy prompts twice: all at once (one batch; for the server, all in
flight together) and one request after another. Prints seconds, tokens/s, the speed-up, whether both
ways wrote the same text, and the spread of answer lengths: a batch lasts as long as its longest answer,
so one answer that runs to the limit while the others stop early bounds what batching can gain.
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from docflywheel.bootstrap import SHIPPED
from docflywheel.config import GenerationConfig, ModelsConfig
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
    lengths: list[int]


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
               [c.text for c in together] == [c.text for c in alone], sorted(c.tokens_out for c in alone))


def untrained_model(shape: str, tokenizer_from: Path) -> Path:
    """An untrained Llama of HIDDEN:LAYERS (weights drawn with seed 0, the given model's tokenizer) in a temporary
    folder: big enough that a step is arithmetic rather than per-op overhead; greedy, its answers all run to the limit.
    """
    from transformers import AutoTokenizer

    from docflywheel.bootstrap.train import SIZES, build_model

    hidden, layers = (int(part) for part in shape.split(":"))
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_from)
    size = replace(SIZES["tiny"], hidden=hidden, layers=layers, heads=max(hidden // 64, 1), intermediate=3 * hidden)
    folder = Path(tempfile.mkdtemp(prefix="bench-")) / f"untrained-{hidden}x{layers}"
    build_model(size, tokenizer, seed=0).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def bench_hf(model: Path, requests: list[GenerationRequest], threads: int | None) -> Row:
    from docflywheel.models.hf import HFBackend

    backend = HFBackend(ModelSpec("hf", str(model)), batch_size=len(requests), device="cpu", threads=threads)
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
    parser.add_argument("--models", default="tiny,small",
                        help="comma-separated bootstrapped names (tiny, small) or local model folders; a missing "
                             "bootstrapped model is skipped with the command that makes it")
    parser.add_argument("--untrained", metavar="HIDDEN:LAYERS",
                        help="also an untrained Llama of this shape (1024:12 is 172M parameters), for the speed of "
                             "a model whose steps are arithmetic rather than overhead")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--backends", default="hf,vllm,openai", help="comma-separated: hf, vllm, openai")
    parser.add_argument("--threads", type=int, default=GenerationConfig().threads,
                        help="torch CPU threads of the transformers backend (default: generation.threads)")
    args = parser.parse_args()
    requests = prompts(args.prompts, args.max_new_tokens)
    has_vllm = importlib.util.find_spec("vllm") is not None
    runs = {"hf": partial(bench_hf, threads=args.threads), "vllm": bench_vllm, "openai": bench_openai}
    results: list[tuple[Path, Row]] = []
    models = [Path(name) if "/" in name else ModelsConfig().cache_dir / name for name in args.models.split(",")]
    if args.untrained:
        models.append(untrained_model(args.untrained, SHIPPED / "tiny"))
    for model in models:
        name = model.name
        if not (model / "config.json").exists():
            print(f"{name}: skipped, no model at {model} (run `docflywheel bootstrap --size {name}` or give a folder)")
            continue
        for backend in args.backends.split(","):
            if backend in ("vllm", "openai") and not has_vllm:
                print(f"{backend}: skipped, vLLM is not installed (pip install 'docflywheel[vllm]')")
                continue
            results.append((model, runs[backend](model, requests)))
    print(f"\n{args.prompts} prompts x up to {args.max_new_tokens} new tokens, greedy, transformers on "
          f"{args.threads} thread(s)")
    print(f"{'model':<20}{'backend':<24}{'batched s':>10}{'single s':>10}{'speed-up':>10}{'tok/s batched':>15}"
          f"{'tok/s single':>14}{'same text':>11}  answer tokens min/median/max")
    for model, row in results:
        spread = f"{row.lengths[0]}/{row.lengths[len(row.lengths) // 2]}/{row.lengths[-1]}"
        print(f"{model.name:<20}{row.backend:<24}{row.batched_s:>10.2f}{row.single_s:>10.2f}"
              f"{row.single_s / row.batched_s:>9.1f}x{row.batched_tokens / row.batched_s:>15.0f}"
              f"{row.single_tokens / row.single_s:>14.0f}{'yes' if row.same_text else 'no':>11}  {spread}")


if __name__ == "__main__":
    main()
