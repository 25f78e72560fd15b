"""Layers that compute a standard function faster on the CPU than the stock module does."""

from __future__ import annotations

import torch
from torch import nn


class _TanhFromSigmoid(torch.autograd.Function):
    """tanh(x) = 2 * sigmoid(2x) - 1, with one allocation forward and one backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = torch.mul(x, 2).sigmoid_().mul_(2).sub_(1)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return torch.mul(y, y).neg_().add_(1).mul_(grad)  # d tanh = 1 - tanh^2


class Tanh(nn.Tanh):
    """nn.Tanh, but trained on the CPU through sigmoid.

    On the 2-core CPU of docs/RESULTS.md, torch's tanh kernel takes ~1.0 ms for LeNet5's first
    activation map where sigmoid takes ~0.3 ms, and tanh is a fifth of a training step; the
    sigmoid form makes a LeNet5 epoch ~7% faster (docs/speed-log.md). It agrees with torch.tanh
    to ~1e-7. Evaluation, export and other devices use torch.tanh itself.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and x.requires_grad and torch.is_grad_enabled():
            return _TanhFromSigmoid.apply(x)
        return torch.tanh(x)
