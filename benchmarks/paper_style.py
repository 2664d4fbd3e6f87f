"""The baseline of the speed benchmarks: RK4Net as the paper's PyTorch code builds it.

One ``nn.Linear`` per layer, the same layer in all four RK4 stages, a frozen linear
lift, an eager training loop with ``torch.optim.Adam``: the structure of the
paper's public code (see ``reference-facts.md``), written here so a benchmark can
time it beside the Keras networks it is compared with: in the same process, or in
a process of its own (``python paper_style.py --serve``, which ``bench_images.py``
starts) that runs as the paper's code runs for its users, with glibc's malloc
defaults rather than the tuning keras-rk restarts with.
"""

from __future__ import annotations

import argparse
import sys
import time


def rk4_net(depth: int, width: int, input_dim: int, num_classes: int, step_size: float = 0.05):
    import torch
    from torch import nn

    class RK4Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lift = nn.Linear(input_dim, width, bias=False)
            self.lift.weight.requires_grad_(False)
            self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
            self.classifier = nn.Linear(width, num_classes)

        def forward(self, x):
            y = self.lift(x)
            h = step_size
            for layer in self.layers:
                k1 = torch.tanh(layer(y))
                k2 = torch.tanh(layer(y + h / 2 * k1))
                k3 = torch.tanh(layer(y + h / 2 * k2))
                k4 = torch.tanh(layer(y + h * k3))
                y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            return self.classifier(y)

    return RK4Net()


def train_epoch(model, optimizer, batches) -> float:
    """One eager pass over (x, y) batches of torch tensors; returns its seconds."""
    from torch import nn

    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for xb, yb in batches:
        optimizer.zero_grad()
        loss_fn(model(xb), yb).backward()
        optimizer.step()
    return time.perf_counter() - start


def adam(model):
    import torch

    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad])


def image_epochs(batch_size, *, width=900, depth=100, seed=0, threads=None):
    """A function that trains one more epoch (about 250 random 784-pixel images) of
    the paper-style RK4Net with Adam and returns its number of images; warmed up
    with two batches. `threads` sets PyTorch's intra-op threads."""
    import numpy as np
    import torch

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = rk4_net(depth, width, 784, 10)
    optimizer = adam(model)
    rng = np.random.default_rng(seed)
    num_batches = max(2, int(np.ceil(250 / batch_size)))
    x = torch.tensor(rng.random((num_batches * batch_size, 784), dtype=np.float32))
    y = torch.tensor(rng.integers(0, 10, num_batches * batch_size))
    batches = [(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    train_epoch(model, optimizer, batches[:2])  # warm-up

    def epoch():
        train_epoch(model, optimizer, batches)
        return len(x)

    return epoch


def serve(stdin, stdout, **settings):
    """Builds ``image_epochs(**settings)``, writes ``ready``, then trains one epoch
    for each line ``epoch`` read and answers ``images N``, until end of input."""
    epoch = image_epochs(**settings)
    print("ready", file=stdout, flush=True)
    for line in stdin:
        if line.strip() != "epoch":
            raise ValueError(f"paper_style.py --serve reads lines 'epoch'; got {line!r}")
        print(f"images {epoch()}", file=stdout, flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", required=True,
                        help="train an epoch for each line 'epoch' on standard input")  # fmt: skip
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--width", type=int, default=900)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int)
    arguments = vars(parser.parse_args())
    del arguments["serve"]
    serve(sys.stdin, sys.stdout, **arguments)
