"""Bytes that torch's autograd keeps for the backward pass of an RKBlock, with and
without remat (torch backend only).

ru_maxrss on torch's eager CPU backend is dominated by allocator behaviour at
the sizes bench_memory.py can afford here, so this counts the saved tensors
directly, through torch.autograd.graph.saved_tensors_hooks.

    PYTHONPATH=. KERAS_BACKEND=torch python benchmarks/saved_tensors_torch.py
"""

from __future__ import annotations

import argparse

import keras
import torch

import keras_rk


def saved_bytes(depth: int, width: int, batch: int, remat: bool) -> int:
    keras.utils.set_random_seed(0)
    block = keras_rk.RKBlock("rk4", num_steps=depth, remat=remat)
    block.build((None, width))
    seen, total = set(), 0

    def pack(tensor):
        nonlocal total
        if tensor.data_ptr() not in seen:
            seen.add(tensor.data_ptr())
            total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = block(torch.randn(batch, width))
    out.sum().backward()
    return total


def main(depth: int = 100, width: int = 128, batch: int = 256) -> dict:
    if keras.backend.backend() != "torch":
        raise SystemExit("Run with KERAS_BACKEND=torch.")
    result = {remat: saved_bytes(depth, width, batch, remat) for remat in (False, True)}
    for remat, size in result.items():
        print(
            f"depth {depth} width {width} batch {batch} remat={remat}: "
            f"{size / 2**20:.1f} MiB saved for backward"
        )
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    main(args.depth, args.width, args.batch)
