"""The SafeNet network (Hu et al., Sci. Rep. 2025) as the authors' code builds it, in PyTorch (the
``train`` extra).

Per region and yearly step: the map patch (C layers, P x P pixels) through a small bottleneck ResNet
(conv 7x7/2 (32), BN, ReLU, max-pool, bottleneck stages [16, 16, 64] x 3 and [32, 32, 128] x 4,
average pool, dense 32) and the 282 catalog indicators through dense [32, 32, 32, 32] (LeakyReLU);
both concatenated (64), layer-normed and run through an LSTM(32) over the T yearly steps. The whole-area
patch sequence goes through the same ResNet and its own LSTM(32): the global token. Global token and
region tokens get a learnable position embedding, pass one transformer encoder layer across regions
(2 heads, dim 32, MLP [64, 32], dropout 0.2, post-norm as Keras blocks are written) and a dense layer
gives logits over the K magnitude classes, for each region, for the year after the last step.

Attention is written with plain operations (not ``nn.TransformerEncoderLayer``, whose inference fast
path does not export to ONNX). Patches are standardised inside the network per channel (buffers set from
the training data by ``train``), so that callers pass the maps as ``maps.py`` gives them (DESIGN.md keeps
normalisation inside the shipped model); the catalog indicators come already min-max scaled (the
``FeatureScaler`` travels in the model card).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class SafeNetConfig:
    """Shapes and sizes of a SafeNet.

    Parameters
    ----------
    n_regions : R, regions forecast (fixed per model: the position embedding has one row per region).
    n_steps : T, yearly steps per sample (the paper: 10).
    n_features : F, catalog indicators per region-year (282).
    channels : C, map layers per patch (static layers + 1 density channel).
    patch : P, patch side in pixels.
    n_classes : K, magnitude classes (M < 5, 5-6, 6-7, >= 7: 4).
    blocks : bottleneck blocks in the two ResNet stages (the authors': (3, 4)).
    dim : token width (32).
    heads : attention heads (2).
    dropout : transformer dropout (0.2).
    """

    n_regions: int
    n_steps: int = 10
    n_features: int = 282
    channels: int = 3
    patch: int = 32
    n_classes: int = 4
    blocks: tuple[int, int] = (3, 4)
    dim: int = 32
    heads: int = 2
    dropout: float = 0.2

    def __post_init__(self):
        for name in ("n_regions", "n_steps", "n_features", "channels", "patch", "n_classes", "dim", "heads"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"SafeNetConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.dim % self.heads:
            raise ValueError(f"SafeNetConfig.dim {self.dim} is not a multiple of heads {self.heads}")
        if self.patch < 8:
            raise ValueError(f"SafeNetConfig.patch must be >= 8 pixels (two stride-2 steps), got {self.patch}")
        object.__setattr__(self, "blocks", tuple(int(b) for b in self.blocks))


class Bottleneck(nn.Module):
    """1x1 (a) -> 3x3 (b, stride) -> 1x1 (c), batch norm after each, ReLU, projected shortcut when the
    shape changes (ResNet-50's block with the authors' narrow widths)."""

    def __init__(self, c_in: int, widths: tuple[int, int, int], stride: int = 1):
        super().__init__()
        a, b, c = widths
        self.body = nn.Sequential(
            nn.Conv2d(c_in, a, 1, bias=False), nn.BatchNorm2d(a), nn.ReLU(),
            nn.Conv2d(a, b, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(),
            nn.Conv2d(b, c, 1, bias=False), nn.BatchNorm2d(c))
        self.shortcut = (nn.Identity() if stride == 1 and c_in == c else
                         nn.Sequential(nn.Conv2d(c_in, c, 1, stride=stride, bias=False), nn.BatchNorm2d(c)))
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class PatchResNet(nn.Module):
    """Map patch (N, C, P, P) -> embedding (N, dim)."""

    def __init__(self, channels: int, blocks: tuple[int, int], dim: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, 32, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(32),
                                   nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1)]
        c = 32
        for stage, (widths, n) in enumerate(zip(((16, 16, 64), (32, 32, 128)), blocks)):
            for i in range(n):
                # the second stage halves the grid in its first block, as in ResNet
                layers.append(Bottleneck(c, widths, stride=2 if stage > 0 and i == 0 else 1))
                c = widths[2]
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(c, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x).mean(dim=(2, 3)))


class SelfAttention(nn.Module):
    """Multi-head self-attention with plain operations (exports to ONNX opset 17)."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.scale = 1.0 / math.sqrt(dim // heads)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]                                             # each (b, h, n, d/h)
        w = torch.softmax(q @ k.transpose(-2, -1) * self.scale, dim=-1)
        y = (self.drop(w) @ v).transpose(1, 2).reshape(b, n, d)
        return self.proj(y)


class EncoderLayer(nn.Module):
    """x = LN(x + attention(x)); x = LN(x + MLP(x)), MLP [2 dim, dim] (the authors' [64, 32])."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.attention = SelfAttention(dim, heads, dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * dim, dim))
        self.norm2 = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.drop(self.attention(x)))
        return self.norm2(x + self.drop(self.mlp(x)))


class SafeNet(nn.Module):
    """``forward(features (B, R, T, F), patches (B, R, T, C, P, P), global_patches (B, T, C, P, P))``
    -> logits (B, R, K) for the year after the last step."""

    def __init__(self, config: SafeNetConfig):
        super().__init__()
        self.config = cfg = config
        d = cfg.dim
        self.resnet = PatchResNet(cfg.channels, cfg.blocks, d)
        widths = [cfg.n_features, 32, 32, 32, d]
        catalog: list[nn.Module] = []
        for a, b in zip(widths, widths[1:]):
            catalog += [nn.Linear(a, b), nn.LeakyReLU(0.01)]
        self.catalog = nn.Sequential(*catalog)
        self.fuse_norm = nn.LayerNorm(2 * d)
        self.lstm = nn.LSTM(2 * d, d, batch_first=True)
        self.global_lstm = nn.LSTM(d, d, batch_first=True)
        # row 0: the global token; rows 1..R: the regions in grid.regions order
        self.position = nn.Parameter(torch.randn(cfg.n_regions + 1, d) * 0.02)
        self.encoder = EncoderLayer(d, cfg.heads, cfg.dropout)
        self.head = nn.Linear(d, cfg.n_classes)
        # per-channel patch standardisation (x - mean) / std, set from the training data
        self.register_buffer("patch_mean", torch.zeros(cfg.channels))
        self.register_buffer("patch_std", torch.ones(cfg.channels))

    # -- pieces, also used by train() to embed each (region, year) patch once per batch ----------------
    def embed_patches(self, x: torch.Tensor) -> torch.Tensor:
        """Patches (N, C, P, P) as given -> embeddings (N, dim)."""
        x = (x - self.patch_mean.view(1, -1, 1, 1)) / self.patch_std.view(1, -1, 1, 1)
        return self.resnet(x)

    def from_embeddings(self, features: torch.Tensor, patch_emb: torch.Tensor, global_emb: torch.Tensor
                        ) -> torch.Tensor:
        """Features (B, R, T, F), patch embeddings (B, R, T, dim), global patch embeddings (B, T, dim)
        -> logits (B, R, K)."""
        b, r, t, _ = features.shape
        x = torch.cat([self.catalog(features), patch_emb], dim=-1)
        x = self.fuse_norm(x).reshape(b * r, t, -1)
        _, (h, _) = self.lstm(x)                       # h: (1, B R, dim), the state after the last step
        regions = h[0].reshape(b, r, -1)
        _, (g, _) = self.global_lstm(global_emb)
        tokens = torch.cat([g[0].unsqueeze(1), regions], dim=1) + self.position.unsqueeze(0)
        tokens = self.encoder(tokens)
        return self.head(tokens[:, 1:])

    def forward(self, features: torch.Tensor, patches: torch.Tensor, global_patches: torch.Tensor) -> torch.Tensor:
        b, r, t = features.shape[:3]
        c, p = patches.shape[3], patches.shape[4]
        emb = self.embed_patches(patches.reshape(b * r * t, c, p, p)).reshape(b, r, t, -1)
        g = self.embed_patches(global_patches.reshape(b * t, c, p, p)).reshape(b, t, -1)
        return self.from_embeddings(features, emb, g)


class SafeNetProbabilities(nn.Module):
    """The exported graph: SafeNet followed by a softmax over classes -> probabilities (B, R, K)."""

    def __init__(self, net: SafeNet):
        super().__init__()
        self.net = net

    def forward(self, features: torch.Tensor, patches: torch.Tensor, global_patches: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(features, patches, global_patches), dim=-1)


def n_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
