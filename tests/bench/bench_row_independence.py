"""Whether a row's product comes out the same alone and among other rows, on this CPU: the products a decoding step
runs, on the bundled model's own weights (its first layer's projections and the lm_head) and the bundled SAE's
encoder, and the attention of one new token.

A batch of answers (core/engine/batch_generation.py) equals the answers made one at a time bit for bit only where
each of a row's products and its attention come out the same in a batch as alone. For each weight and kernel,
``--rows`` random rows (unit RMS, in the weight's dtype) are multiplied together and each alone, ``--trials`` times;
reported: the share of rows whose output differs in any bit, and the largest difference.

- bfloat16: alone by each single-row kernel (core/support/row_kernels.py: linear, mv, onednn), together as the lite
  engine multiplies several rows (core/support/row_blocks.py ``linear_rows``); the SAE's encoder alike
  (``SingleRowProduct`` alone, ``matmul_rows`` together);
- int8 and int4 weights (``--dtype int8`` / ``int4``): the engine's own product of a decoding step (``_proj`` on
  ``[sequences, 1, width]``), one sequence alone and several together (weight-only kernels for both; int4 also the
  lm_head in 8-bit groups and the SAE's encoder beside it);
- float32: ``F.linear`` alone and together;
- attention: ``scaled_dot_product_attention`` of one query against 64 cached keys, alone and in a batch.

  python tests/bench/bench_row_independence.py [--rows 9] [--trials 4]

writes docs/results/bench/row_independence.json (``--json`` elsewhere; ``--smoke``: a few seconds).
"""

from __future__ import annotations

import argparse

import _bench
import torch
import torch.nn.functional as F

DEFAULT = _bench.RESULTS / "row_independence.json"


def compare(alone, together, x: torch.Tensor) -> tuple[int, float]:
    """(rows whose output differs alone and together, the largest absolute difference) for the rows ``x``."""
    y = together(x)
    ones = [alone(x[i: i + 1]) for i in range(x.shape[0])]
    differ = sum(not torch.equal(one, y[i: i + 1]) for i, one in enumerate(ones))
    return differ, max((one.float() - y[i: i + 1].float()).abs().max().item() for i, one in enumerate(ones))


def trial_rows(n: int, width: int, dtype: torch.dtype, gen: torch.Generator) -> torch.Tensor:
    return torch.randn(n, width, generator=gen).to(dtype)


def measure(products: dict[str, tuple], rows: int, trials: int, gen: torch.Generator) -> dict:
    """{name: {"rows_differing": share, "max_abs_diff": ...}} over ``trials`` batches of ``rows`` rows."""
    out = {}
    for name, (alone, together, width, dtype) in products.items():
        bad, worst = 0, 0.0
        for _ in range(trials):
            b, w = compare(alone, together, trial_rows(rows, width, dtype, gen))
            bad, worst = bad + b, max(worst, w)
        out[name] = {"rows_differing": round(bad / (rows * trials), 4), "max_abs_diff": worst}
        print(f"{name}: {bad}/{rows * trials} rows differ (largest difference {worst:.3g})", flush=True)
    return out


def bfloat16_products(session) -> dict[str, tuple]:
    from desktop_sae.core.engine.lite.row_setup import row_weights
    from desktop_sae.core.support.row_blocks import linear_rows, matmul_rows
    from desktop_sae.core.support.row_kernels import KERNELS, RowWeight, SingleRowProduct, _onednn_available

    model = session.lm.model
    named = dict(zip(("qkv", "o_proj", "gate_up", "down_proj"), row_weights(model)[:4]))
    named["lm_head"] = row_weights(model)[-1]
    out: dict[str, tuple] = {}
    for kind in KERNELS:
        if kind == "onednn" and not _onednn_available():
            continue
        for name, (mod, attr) in named.items():
            w = getattr(mod, attr).detach()
            out[f"{kind}/{name}"] = (RowWeight(w, kind), lambda x, w=w: linear_rows(x, w), w.shape[1], w.dtype)
        enc = session.sae.W_enc.detach()
        out[f"{kind}/sae_encoder"] = (lambda x, p=SingleRowProduct(kind), m=enc: p(x, m),
                                      lambda x, m=enc: matmul_rows(x, m), enc.shape[0], enc.dtype)
    return out


def _step(x: torch.Tensor) -> torch.Tensor:
    return x[:, None, :]  # rows as a decoding step holds them: [sequences, 1 new token, width]


def quantised_products(session, kind: str) -> dict[str, tuple]:
    """The engine's own products of a model in ``kind`` weights (``--dtype int8`` / ``int4``): a decoding step of
    one sequence alone and of several together, through ``projections._proj`` as the layers call it; int4 also
    the lm_head (8-bit groups) and the SAE encoder beside it (``SAE.use_row_kernel("int4")``)."""
    from desktop_sae.core.engine.lite.projections import _proj
    from desktop_sae.core.engine.lite.row_setup import row_weights

    weights = row_weights(session.lm.model)
    named = dict(zip(("qkv", "o_proj", "gate_up", "down_proj"), weights[:4]))
    if kind == "int4":
        named["lm_head"] = weights[-1]
    out: dict[str, tuple] = {}
    for name, (mod, attr) in named.items():
        w = getattr(mod, attr).detach()
        step = lambda x, w=w, r=mod.row: _proj(_step(x), w, r)[:, 0]  # noqa: E731
        out[f"engine/{name}"] = (step, step, w.shape[1], w.dtype)
    if kind == "int4":
        sae = session.sae
        enc = lambda x: sae.encoder_product(_step(x))[:, 0]  # noqa: E731
        out["engine/sae_encoder"] = (enc, enc, sae.W_enc.shape[0], sae.W_enc.dtype)
    return out


def float32_products(session) -> dict[str, tuple]:
    from desktop_sae.core.engine.lite.row_setup import row_weights

    out: dict[str, tuple] = {}
    for name, (mod, attr) in zip(("qkv", "o_proj", "gate_up", "down_proj"), row_weights(session.lm.model)[:4]):
        w = getattr(mod, attr).detach().float()
        out[f"linear/{name}"] = (lambda x, w=w: F.linear(x, w), lambda x, w=w: F.linear(x, w), w.shape[1],
                                 torch.float32)
    return out


def attention(rows: int, trials: int, gen: torch.Generator, heads: int = 9, kv: int = 3, dim: int = 64,
              keys: int = 64) -> dict:
    out = {}
    for dtype in (torch.bfloat16, torch.float32):
        bad, worst = 0, 0.0
        for _ in range(trials):
            q, k, v = (torch.randn(rows, h, t, dim, generator=gen).to(dtype)
                       for h, t in ((heads, 1), (kv, keys), (kv, keys)))
            sdpa = lambda a, b, c: F.scaled_dot_product_attention(a, b, c, enable_gqa=True)  # noqa: E731
            y = sdpa(q, k, v)
            for i in range(rows):
                one = sdpa(q[i: i + 1], k[i: i + 1], v[i: i + 1])
                bad += not torch.equal(one, y[i: i + 1])
                worst = max(worst, (one.float() - y[i: i + 1].float()).abs().max().item())
        name = str(dtype).replace("torch.", "")
        out[name] = {"rows_differing": round(bad / (rows * trials), 4), "max_abs_diff": worst}
        print(f"attention {name}: {bad}/{rows * trials} rows differ (largest difference {worst:.3g})", flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=9, help="rows multiplied together (a 9-strength sweep: 9)")
    ap.add_argument("--trials", type=int, default=4)
    _bench.add_args(ap, DEFAULT)
    a = ap.parse_args(argv)
    load_before = _bench.start()
    if a.smoke:
        a.trials = 1
    from desktop_sae.core.assets.opening import open_session

    gen = torch.Generator().manual_seed(0)
    out: dict = {"rows": a.rows, "trials": a.trials, "threads": torch.get_num_threads()}
    bf16 = open_session(dtype="bfloat16")
    out["row_kernel_chosen"] = getattr(bf16.lm.model, "row_kernel", None)
    out["bfloat16"] = measure(bfloat16_products(bf16), a.rows, a.trials, gen)
    out["float32"] = measure(float32_products(bf16), a.rows, a.trials, gen)
    del bf16
    out["int8"] = measure(quantised_products(open_session(dtype="int8"), "int8"), a.rows, a.trials, gen)
    out["int4"] = measure(quantised_products(open_session(dtype="int4"), "int4"), a.rows, a.trials, gen)
    out["attention"] = attention(a.rows, a.trials, gen)
    share = lambda part: {k: v["rows_differing"] for k, v in part.items()}  # noqa: E731
    summary = {"statistic": f"share of {a.rows * a.trials} rows whose output differs alone and together",
               "row_kernel_chosen": out["row_kernel_chosen"], **{k: share(out[k]) for k in
                                                                 ("bfloat16", "int8", "int4", "float32", "attention")}}
    _bench.write(a, DEFAULT, summary, out, load_before)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
