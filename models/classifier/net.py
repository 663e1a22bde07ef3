"""The event classifier network of Zhang et al. (BSSA 2025): 10 convolution layers and 2 dense
layers, LeakyReLU, softmax over (earthquake, collapse, explosion). PyTorch (the ``train`` extra).

Input: (batch, C, 5000) in physical units (C = 3 seismometer Z/N/E velocity, or 1 DAS strain rate),
as the measurement files hold them. The network normalises each measurement itself (divides by its
peak absolute value over all channels), so callers never do: DESIGN.md keeps normalisation inside
the shipped model. Output: class probabilities (batch, 3).
"""
from __future__ import annotations

import torch
from torch import nn

CLASSES = ("earthquake", "collapse", "explosion")
WIDTHS = (16, 16, 32, 32, 32, 64, 64, 64, 128, 128)   # output channels of the 10 convolutions


class PeakNormalise(nn.Module):
    """x / max|x| per measurement (all channels together, so amplitude ratios between components stay)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        peak = x.abs().amax(dim=(1, 2), keepdim=True)
        return x / (peak + 1e-30)


class EventClassifierNet(nn.Module):
    """10 x (conv k=7 -> batch norm -> LeakyReLU -> max-pool 2), global average, dense 64, dense 3, softmax.

    Parameters
    ----------
    in_channels : 3 (seismometer) or 1 (DAS).
    n_classes : 3.
    """

    def __init__(self, in_channels: int = 3, n_classes: int = len(CLASSES), dropout: float = 0.3):
        super().__init__()
        layers: list[nn.Module] = [PeakNormalise()]
        c = in_channels
        for w in WIDTHS:
            layers += [nn.Conv1d(c, w, kernel_size=7, padding=3), nn.BatchNorm1d(w), nn.LeakyReLU(0.01),
                       nn.MaxPool1d(2)]
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * c, 64), nn.LeakyReLU(0.01),
                                  nn.Linear(64, n_classes))
        self.in_channels = in_channels

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        # mean and max over time: where in the 50 s window a phase sits should not matter
        h = torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)
        return self.head(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(x), dim=1)


def n_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
