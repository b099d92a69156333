"""Products ``x @ w.T`` for the lite engine's decoding on the CPU: one weight prepared for one kernel
(``RowWeight``). Which kernel reads the weights fastest depends on the CPU: on one 2-core machine ``torch.mv`` beat
``F.linear`` 1.5x in bfloat16, on another (AVX-512 BF16) ``F.linear`` beat ``torch.mv`` 1.3x and oneDNN with
weights reordered ahead of time ("prepacked", as inductor's freezing does) beat both by another 1.4x; ``row_setup``
times them on the model's own weights and installs the fastest. The weight-only int8 and int4 kernels read
quantised weights (``row_setup.quantize_int8`` / ``quantize_int4``); each row of their result depends on that row
alone, so a batch of a few rows computes exactly what those rows give one at a time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .int4_groups import GROUP, Int4Weight, quantize_8bit
from .int4_groups import product as int4_product
from .text_enum import TextEnum


class RowKernel(TextEnum):
    LINEAR = "linear"  # F.linear
    MV = "mv"  # torch.mv
    ONEDNN = "onednn"  # oneDNN on a reordered copy of the weights
    INT8 = "int8"  # torch's weight-only int8 product, one scale per output row
    INT4 = "int4"  # torch's weight-only int4 product, a scale and zero per group of 32 (Q4_1's layout)


KERNELS = (RowKernel.LINEAR, RowKernel.MV, RowKernel.ONEDNN)  # the float kernels row_setup chooses between
QUANTISED = (RowKernel.INT8, RowKernel.INT4)
MAX_QUANTISED_ROWS = 16  # a decoding step of up to this many sequences goes through the weight-only kernels too


def _onednn_available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")


class RowWeight:
    """``weight`` prepared for products with a single row by one kernel, or with up to ``MAX_QUANTISED_ROWS``
    rows by a weight-only one (``data``: int8 values and ``scales``, or an :class:`Int4Weight`)."""

    __slots__ = ("weight", "ptr", "kind", "data", "scales")

    def __init__(self, weight: torch.Tensor, kind: RowKernel | str, data: torch.Tensor | Int4Weight | None = None,
                 scales: torch.Tensor | None = None) -> None:
        self.weight, self.ptr, self.kind = weight, weight.data_ptr(), RowKernel(kind)
        self.data, self.scales = data, scales  # oneDNN's reordered copy is made on first use

    def fresh(self, w: torch.Tensor) -> bool:
        """Whether this still describes ``w`` (a ``.to()`` or a re-fuse gives the module a new tensor)."""
        return self.ptr == w.data_ptr() and self.weight.dtype == w.dtype

    def takes(self, x: torch.Tensor) -> bool:
        """Whether this kernel computes for ``x``'s rows: one row, or for a weight-only kernel a decoding step of a
        few sequences (``[b, 1, k]``; a prompt's rows keep the block products, whatever their number)."""
        rows = x.numel() // x.shape[-1]
        if rows == 1:
            return True
        return (self.kind in QUANTISED and rows <= MAX_QUANTISED_ROWS and x.dim() == 3 and x.shape[1] == 1
                and x.dtype == self.weight.dtype)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        rows, k = x.reshape(-1, x.shape[-1]), self.kind
        if k is RowKernel.INT4:
            assert isinstance(self.data, Int4Weight)
            y = int4_product(rows, self.data)
        elif k is RowKernel.INT8:
            y = torch.ops.aten._weight_int8pack_mm(rows, self.data, self.scales)
        elif k is RowKernel.ONEDNN:
            if self.data is None:
                self.data = torch.ops.mkldnn._reorder_linear_weight(self.weight, 1)
            y = torch.ops.mkldnn._linear_pointwise(rows, self.data, None, "none", [], "")
        elif k is RowKernel.MV:
            y = torch.mv(self.weight, rows[0])
        else:
            y = F.linear(rows, self.weight)
        return y.view(*x.shape[:-1], self.weight.shape[0])


class SingleRowProduct:
    """``x @ m`` for one row in bfloat16/float16 on the CPU by a chosen kernel (the SAE encoder's product while
    decoding), from ``m.T`` prepared once; remade when ``m`` is replaced, converted or changed in place.
    ``RowKernel.INT4`` (beside a model in 4-bit weights) holds ``m`` in 8-bit groups on the int4 kernel
    (Q8_0's layout, int4_groups.quantize_8bit) and also takes a batch of a few rows."""

    __slots__ = ("kind", "_key", "_row")

    def __init__(self, kind: RowKernel | str) -> None:
        if kind not in (*KERNELS, RowKernel.INT4):
            raise ValueError(f"unknown kernel {kind!r}")
        self.kind = RowKernel(kind)
        self._key: tuple[int, torch.dtype, int] | None = None
        self._row: RowWeight | None = None

    def __deepcopy__(self, memo: dict[int, object]) -> SingleRowProduct:
        """A copy prepares its own (oneDNN's reordered weights are opaque tensors that cannot be copied)."""
        return SingleRowProduct(self.kind)

    def __call__(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor | None:
        """The product, or None where this path does not apply (too many rows, another device or dtype)."""
        if x.device.type != "cpu" or x.dtype not in _REDUCED or x.dtype != m.dtype:
            return None
        if self.kind is RowKernel.INT4 and (m.dtype != torch.bfloat16 or m.shape[0] % GROUP):
            return None
        key = (m.data_ptr(), m.dtype, m._version)
        if self._row is None or key != self._key:
            mt = m.detach().t().contiguous()
            q8 = quantize_8bit(mt) if self.kind is RowKernel.INT4 else None
            self._row, self._key = RowWeight(mt, self.kind, q8), key
        return self._row(x) if self._row.takes(x) else None


_REDUCED = (torch.bfloat16, torch.float16)
