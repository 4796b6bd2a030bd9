"""RepAdapter: a sequential, re-parameterisable adapter (Luo et al., "Towards Efficient Visual
Adaption via Structural Re-parameterization")."""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn

from mmsls.registry import MODELS
from .base import SequentialAdapter, checked_scale


@MODELS.register_module()
class RepAdapter(SequentialAdapter):
    """A token-wise adapter that folds into the linear layer it feeds.

    On tokens ``x`` of shape (B, N, C) it computes ``x + scale * up(dropout(down(x)))``, where
    ``down`` (the paper's A) is a dense C -> d projection and ``up`` (the paper's B) a grouped 1x1
    projection d -> C: each of the ``groups`` groups maps d/g hidden channels to C/g output
    channels. ``down`` is xavier-uniform initialised, ``up`` and both biases start at zero, so a
    fresh adapter is the identity.

    Without dropout (eval mode) the adapter is an affine map of each token, given by :meth:`affine`;
    :meth:`merge` (through :func:`mmsls.merge_adapters`) folds it into the following projection.

    Args:
        embed_dims (int): Channels C of the tokens.
        hidden_dims (int): Hidden channels d. Defaults to 8.
        groups (int): Groups g of the up projection; must divide both d and C. Defaults to 2.
        dropout (float): Dropout probability between the two projections. Defaults to 0.1.
        scale (float): The per-task scale s of the adapter branch. Defaults to 1.0.
    """

    def __init__(self,
                 embed_dims: int,
                 hidden_dims: int = 8,
                 groups: int = 2,
                 dropout: float = 0.1,
                 scale: float = 1.0):
        super().__init__()
        if hidden_dims % groups or embed_dims % groups:
            raise ValueError(
                f'RepAdapter groups={groups} must divide both hidden_dims={hidden_dims} and '
                f'embed_dims={embed_dims}; choose groups among the common divisors.')
        self.embed_dims = embed_dims
        self.hidden_dims = hidden_dims
        self.groups = groups
        self.scale = checked_scale(scale, 'RepAdapter')
        self.down = nn.Linear(embed_dims, hidden_dims)
        self.dropout = nn.Dropout(dropout)
        self.up = nn.Conv1d(hidden_dims, embed_dims, kernel_size=1, groups=groups)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The published initialisation: ``down`` xavier-uniform, ``up`` and the biases zero."""
        nn.init.xavier_uniform_(self.down.weight)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Adapt tokens ``x`` of shape (B, N, C)."""
        if x.dim() != 3 or x.shape[-1] != self.embed_dims:
            raise ValueError(f'RepAdapter expects tokens of shape (B, N, {self.embed_dims}), '
                             f'got {tuple(x.shape)}')
        hidden = self.dropout(self.down(x))
        # The grouped 1x1 convolution as its block-diagonal linear map: tokens stay channels-last
        # (no transposes), and forward and merge share one definition of B. The scale goes on
        # the small weights, not on the (B, N, C) output.
        return x + F.linear(hidden, self.scale * self._dense_up_weight(), self.scale * self.up.bias)

    def _dense_up_weight(self) -> torch.Tensor:
        """``up``'s (C, d/g, 1) grouped weight as the equivalent block-diagonal (C, d) matrix.

        Row block i spread over the g column blocks and masked to block i: the same values as
        ``torch.block_diag``, which the TorchScript ONNX exporter cannot export.
        """
        groups = self.groups
        rows, cols = self.embed_dims // groups, self.hidden_dims // groups
        blocks = self.up.weight.reshape(groups, rows, 1, cols)
        mask = torch.eye(groups, dtype=blocks.dtype, device=blocks.device).view(groups, 1, groups, 1)
        return (blocks * mask).reshape(self.embed_dims, self.hidden_dims)

    def affine(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """The adapter as a dense affine map (dropout off).

        Returns:
            tuple[Tensor, Tensor]: ``(weight, bias)`` of shapes (C, C) and (C,) such that
            ``adapter(x) == x @ weight.T + bias``: ``weight = I + s * B @ A`` and
            ``bias = s * (B @ b_A + b_B)``, with B densified to a block-diagonal (C, d) matrix.
        """
        up = self._dense_up_weight()
        eye = torch.eye(self.embed_dims, dtype=up.dtype, device=up.device)
        weight = eye + self.scale * up @ self.down.weight
        bias = self.scale * (up @ self.down.bias + self.up.bias)
        return weight, bias

    def extra_repr(self) -> str:
        return f'scale={self.scale}'
