"""Single-row products ``x @ w.T`` for the lite engine's batch-1 decoding on the CPU: one weight prepared for one
kernel (``RowWeight``). Which kernel reads the weights fastest depends on the CPU: on one 2-core machine ``torch.mv``
beat ``F.linear`` 1.5x in bfloat16, on another (AVX-512 BF16) ``F.linear`` beat ``torch.mv`` 1.3x and oneDNN with
weights reordered ahead of time ("prepacked", as inductor's freezing does) beat both by another 1.4x; ``row_setup``
times them on the model's own weights and installs the fastest.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

KERNELS = ("linear", "mv", "onednn")


def _onednn_available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")


class RowWeight:
    """``weight`` prepared for products with a single row by one kernel ('linear', 'mv', 'onednn' or 'int8')."""

    __slots__ = ("weight", "ptr", "kind", "data", "scales")

    def __init__(self, weight: torch.Tensor, kind: str, data: torch.Tensor | None = None,
                 scales: torch.Tensor | None = None) -> None:
        self.weight, self.ptr, self.kind = weight, weight.data_ptr(), kind
        self.data, self.scales = data, scales  # oneDNN's reordered copy is made on first use (int8 may replace it)

    def fresh(self, w: torch.Tensor) -> bool:
        """Whether this still describes ``w`` (a ``.to()`` or a re-fuse gives the module a new tensor)."""
        return self.ptr == w.data_ptr() and self.weight.dtype == w.dtype

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        row, k = x.reshape(1, -1), self.kind
        if k == "onednn":
            if self.data is None:
                self.data = torch.ops.mkldnn._reorder_linear_weight(self.weight, 1)
            y = torch.ops.mkldnn._linear_pointwise(row, self.data, None, "none", [], "")
        elif k == "int8":
            y = torch.ops.aten._weight_int8pack_mm(row, self.data, self.scales)
        elif k == "mv":
            y = torch.mv(self.weight, row[0])
        else:
            y = F.linear(row, self.weight)
        return y.view(*x.shape[:-1], self.weight.shape[0])


class SingleRowProduct:
    """``x @ m`` for one row in bfloat16/float16 on the CPU by a chosen kernel (the SAE encoder's product while
    decoding), from ``m.T`` prepared once; remade when ``m`` is replaced, converted or changed in place."""

    __slots__ = ("kind", "_key", "_row")

    def __init__(self, kind: str) -> None:
        if kind not in KERNELS:
            raise ValueError(f"unknown kernel {kind!r}")
        self.kind = kind
        self._key: tuple[int, torch.dtype, int] | None = None
        self._row: RowWeight | None = None

    def __deepcopy__(self, memo: dict[int, object]) -> SingleRowProduct:
        """A copy prepares its own (oneDNN's reordered weights are opaque tensors that cannot be copied)."""
        return SingleRowProduct(self.kind)

    def __call__(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor | None:
        """The product, or None where this path does not apply (several rows, another device or dtype)."""
        if x.device.type != "cpu" or x.numel() != x.shape[-1] or x.dtype not in _REDUCED or x.dtype != m.dtype:
            return None
        key = (m.data_ptr(), m.dtype, m._version)
        if self._row is None or key != self._key:
            self._row, self._key = RowWeight(m.detach().t().contiguous(), self.kind), key
        return self._row(x)


_REDUCED = (torch.bfloat16, torch.float16)
