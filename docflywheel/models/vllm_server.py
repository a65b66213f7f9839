"""Start and stop a vLLM OpenAI-compatible server as its own process group."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from docflywheel.errors import InputError, ModelError

# vLLM accepts only these LoRA ranks for --max-lora-rank.
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
# Constrained JSON without whitespace: small models otherwise pad it with newlines up to the token limit.
STRUCTURED_OUTPUTS = {"backend": "xgrammar", "disable_any_whitespace": True}


def cpu_engine_options() -> dict[str, bool]:
    """Engine settings the CPU build needs (none on a GPU): chunked prefill off.

    With it on, a prompt split across engine steps rewinds its own seeded sampling generator, which a CPU
    generator cannot do ("CPU Generator does not use offset"), and the whole engine dies. Seeded requests under
    load meet this within minutes (found by the load run, tests/reliability/load.py).
    """
    return {} if _has_gpu() else {"enable_chunked_prefill": False}


def vllm_env(model: str | Path | None = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment vLLM needs here, over `base` (default os.environ); values already set win.

    - VLLM_CPU_KVCACHE_SPACE=1 (GiB of KV cache on the CPU backend): unset, vLLM sizes it from the
      machine's memory, far more than small models need on a shared 24 GiB machine.
    - VLLM_CPU_OMP_THREADS_BIND=nobind: pinning OpenMP threads to cores clashes with other processes.
    - VLLM_ALLOW_RUNTIME_LORA_UPDATING=true: a server may load and unload adapters while it runs.
    - HF_HUB_OFFLINE=1 for a local folder: nothing to fetch, and these machines have no hub.
    GPU builds ignore the VLLM_CPU_* variables.
    """
    env = dict(os.environ if base is None else base)
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    env.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
    env.setdefault("VLLM_ALLOW_RUNTIME_LORA_UPDATING", "true")
    if model is not None and Path(model).exists():
        env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def context_length(model: str | Path) -> int | None:
    """max_position_embeddings from a local model's config.json (None for a hub id or no such field)."""
    config = Path(model) / "config.json"
    if not config.exists():
        return None
    data = json.loads(config.read_text(encoding="utf-8"))
    value = data.get("max_position_embeddings") or data.get("text_config", {}).get("max_position_embeddings")
    return int(value) if value else None


def check_cpu_support(model: str | Path) -> None:
    """Fail early, in one line, where vLLM's CPU attention kernels cannot run a local model."""
    config = Path(model) / "config.json"
    if not config.exists() or _has_gpu():
        return
    try:
        from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend
    except ImportError:
        return
    data = json.loads(config.read_text(encoding="utf-8"))
    heads = data.get("num_attention_heads")
    head_dim = data.get("head_dim") or (data["hidden_size"] // heads if heads and "hidden_size" in data else None)
    supported = CPUAttentionBackend.get_supported_head_sizes()
    if head_dim is not None and head_dim not in supported:
        raise ModelError(f"{config}: head_dim {head_dim} is not one vLLM's CPU attention supports {supported}: "
                         "use fewer attention heads (hidden_size / num_attention_heads) or the hf backend")


def lora_rank(adapters: Mapping[str, str | Path]) -> int:
    """The smallest rank vLLM accepts that holds every adapter's `r`."""
    ranks = []
    for name, path in adapters.items():
        config = Path(path) / "adapter_config.json"
        if not config.exists():
            raise InputError(f"adapter '{name}' at {path} has no adapter_config.json: give a PEFT adapter folder")
        ranks.append(int(json.loads(config.read_text(encoding="utf-8")).get("r", 8)))
    need = max(ranks, default=8)
    for rank in LORA_RANKS:
        if rank >= need:
            return rank
    raise InputError(f"adapter rank {need} is above vLLM's largest ({LORA_RANKS[-1]}): train a smaller adapter")


def server_command(model: str | Path, *, port: int, host: str = "127.0.0.1", served_model_name: str | None = None,
                   adapters: Mapping[str, str | Path] | None = None, dtype: str | None = None,
                   max_model_len: int | None = None, max_loras: int = 2, python: str | None = None,
                   extra_args: list[str] | None = None) -> list[str]:
    """The `python -m vllm.entrypoints.openai.api_server ...` command line.

    `vllm serve` fails under the vllm-cpu distribution (no `vllm` package metadata), so the module
    is started directly. `adapters` maps served names to PEFT adapter folders. `dtype` defaults to
    float32 on the CPU (bfloat16 is emulated there, and float32 matches transformers exactly).
    """
    command = [python or sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
               "--host", host, "--port", str(port), "--dtype", dtype or default_dtype(),
               "--structured-outputs-config", json.dumps(STRUCTURED_OUTPUTS)]
    command += [f"--{'' if value else 'no-'}{name.replace('_', '-')}" for name, value in cpu_engine_options().items()]
    if served_model_name:
        command += ["--served-model-name", served_model_name]
    length = max_model_len or context_length(model)
    if length:
        command += ["--max-model-len", str(length)]
    if adapters:
        command += ["--enable-lora", "--max-lora-rank", str(lora_rank(adapters)), "--max-loras", str(max_loras),
                    "--lora-modules", *[f"{name}={path}" for name, path in adapters.items()]]
    return command + list(extra_args or [])


def default_dtype() -> str:
    """float32 on the CPU, the model's own dtype on a GPU."""
    return "auto" if _has_gpu() else "float32"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class VLLMServer:
    """A running server; `stop()` ends its whole process group (engine and workers too)."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    _log: IO[bytes] | None = field(default=None, repr=False)

    def models(self) -> list[str]:
        """The served model ids, from `/v1/models`."""
        with urllib.request.urlopen(f"{self.base_url}/models", timeout=5) as response:
            return [entry["id"] for entry in json.load(response)["data"]]

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout_s)
        # Workers may outlive the API process that led the group.
        _signal_group(self.process.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> VLLMServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def start_server(model: str | Path, *, log_path: Path, port: int | None = None, host: str = "127.0.0.1",
                 timeout_s: float = 300.0, **options: object) -> VLLMServer:
    """Start a vLLM server and wait until `/v1/models` answers; `options` go to `server_command`."""
    check_cpu_support(model)
    port = port or free_port(host)
    command = server_command(model, port=port, host=host, **options)  # type: ignore[arg-type]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("wb")
    process = subprocess.Popen(command, env=vllm_env(model), stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    server = VLLMServer(process, f"http://{host}:{port}/v1", log_path, log)
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            server.stop()
            raise ModelError(f"vLLM server for {model} exited with code {process.returncode}: "
                             f"{_last_line(log_path)} (full log: {log_path})")
        try:
            server.models()
            return server
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError, KeyError):
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise ModelError(f"vLLM server for {model} not ready after {timeout_s:.0f} s (log: {log_path})")
        time.sleep(1.0)


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _last_line(path: Path) -> str:
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line]
    return (errors or lines or ["no output"])[-1].strip()
