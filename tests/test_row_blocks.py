"""``matmul_rows``: the steering terms' and the SAE decoder's products over a prompt's rows, in a few row counts
(core/support/row_blocks.py), are the plain product."""

from __future__ import annotations

import pytest
import torch

from desktop_sae.core.support.row_blocks import blocks_help, matmul_rows


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(("a_shape", "b_shape"), [((37, 64), (64, 3)), ((1, 37, 3), (3, 64)), ((300, 4), (4, 96)),
                                                  ((1, 1, 64), (64, 2)), ((5, 64), (64, 256))])
def test_the_product_is_the_plain_one(a_shape, b_shape, dtype):
    torch.manual_seed(0)
    a, b = torch.randn(a_shape).to(dtype), (torch.randn(b_shape) / 8).to(dtype)
    y = matmul_rows(a, b)
    assert y.shape == (*a_shape[:-1], b_shape[1]) and y.dtype == dtype
    torch.testing.assert_close(y, a @ b)
    assert blocks_help(a) == (dtype == torch.bfloat16 and a.numel() > a.shape[-1])  # one row takes the plain path
