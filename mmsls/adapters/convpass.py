"""Convpass: a convolutional bypass run in parallel with attention or MLP (Jie and Deng,
"Convolutional Bypasses Are Better Vision Transformer Adapters")."""
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mmsls.registry import MODELS
from .base import ParallelAdapter, checked_scale


class QuickGELU(nn.Module):
    """``x * sigmoid(1.702 * x)``, the GELU approximation Convpass uses."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


@MODELS.register_module()
class Convpass(ParallelAdapter):
    """A bypass branch with a 3x3 convolution over the patch grid.

    On tokens ``x`` of shape (B, N, C) whose last H*W tokens are the patches of an H x W grid in
    row-major order (any tokens before them, such as a class token, are "extra" tokens):
    Linear C -> d, QuickGELU, the patch tokens as a (B, d, H, W) map through a 3x3 convolution
    (padding 1); each extra token goes through the same convolution as a 1x1 map, where only the
    kernel's centre tap sees it; concatenate, QuickGELU, dropout, Linear d -> C, times ``scale``.
    The caller adds the result to the output of the block part it runs beside.

    Init: ``down`` xavier-uniform with zero bias, ``up`` all zeros (so the branch starts at zero),
    the convolution xavier-uniform (``xavier_init=True``) or zero with the identity at the centre
    tap; its bias zero.

    Args:
        embed_dims (int): Channels C of the tokens.
        hidden_dims (int): Hidden channels d. Defaults to 8.
        dropout (float): Dropout probability before the up projection. Defaults to 0.1.
        scale (float): The per-task scale s of the branch. Defaults to 1.0.
        xavier_init (bool): Initialise the convolution xavier-uniform; otherwise as the identity
            at the centre tap. The public recipes choose per dataset. Defaults to True.
    """

    def __init__(self,
                 embed_dims: int,
                 hidden_dims: int = 8,
                 dropout: float = 0.1,
                 scale: float = 1.0,
                 xavier_init: bool = True):
        super().__init__()
        self.embed_dims = embed_dims
        self.hidden_dims = hidden_dims
        self.scale = checked_scale(scale, 'Convpass')
        self.xavier_init = xavier_init
        self.down = nn.Linear(embed_dims, hidden_dims)
        self.conv = nn.Conv2d(hidden_dims, hidden_dims, kernel_size=3, padding=1)
        self.act = QuickGELU()
        self.dropout = nn.Dropout(dropout)
        self.up = nn.Linear(hidden_dims, embed_dims)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The published initialisation (see the class docstring)."""
        nn.init.xavier_uniform_(self.down.weight)
        nn.init.zeros_(self.down.bias)
        if self.xavier_init:
            nn.init.xavier_uniform_(self.conv.weight)
        else:
            with torch.no_grad():
                self.conv.weight.zero_()
                self.conv.weight[:, :, 1, 1] = torch.eye(self.hidden_dims)
        nn.init.zeros_(self.conv.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        """The scaled branch output for tokens ``x`` (B, N, C) on the patch grid ``hw_shape``."""
        if x.dim() != 3 or x.shape[-1] != self.embed_dims:
            raise ValueError(f'Convpass expects tokens of shape (B, N, {self.embed_dims}), '
                             f'got {tuple(x.shape)}')
        batch, num_tokens, _ = x.shape
        height, width = hw_shape
        num_extra = num_tokens - height * width
        if num_extra < 0:
            raise ValueError(f'Convpass got {num_tokens} tokens, fewer than the {height}x{width} '
                             'patch grid it was given')
        hidden = self.act(self.down(x))
        extra, patches = hidden[:, :num_extra], hidden[:, num_extra:]
        patches = patches.transpose(1, 2).reshape(batch, self.hidden_dims, height, width)
        patches = self.conv(patches).flatten(2).transpose(1, 2)
        extra = F.linear(extra, self.conv.weight[:, :, 1, 1], self.conv.bias)
        hidden = self.dropout(self.act(torch.cat([extra, patches], dim=1)))
        # The scale goes on the small weights, not on the (B, N, C) output.
        return F.linear(hidden, self.scale * self.up.weight, self.scale * self.up.bias)

    def extra_repr(self) -> str:
        return f'scale={self.scale}'
