"""How many CPU threads torch uses for a block of work: bootstrap training, TRL training and generation share it.

On a shared 2-core machine one thread is usually fastest: with two, each op waits at a barrier for the second
core, and whenever anything else runs a step takes 3-100x longer (see docflywheel/bootstrap/train.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with `threads` intra-op threads (None: unchanged), then restore the count."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
