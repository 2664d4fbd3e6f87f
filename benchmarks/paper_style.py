"""The baseline of the speed benchmarks: RK4Net as the paper's PyTorch code builds it.

One ``nn.Linear`` per layer, the same layer in all four RK4 stages, a frozen linear
lift, an eager training loop with ``torch.optim.Adam``: the structure of the
paper's public code (see ``reference-facts.md``), written here so a benchmark can
time it in the same process as the Keras networks it is compared with.
"""

from __future__ import annotations

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
