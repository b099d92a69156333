"""TopK SAE trainer (docs/MATHS.md, "Training a TopK SAE") with a sparse backward pass.

Only the k active latents per token (plus the AuxK latents) touch the decoder, so the decoder runs as an
``embedding_bag`` and every gradient that a dense trainer gets from a [batch, d_sae] matmul is computed here from
the sparse entries (COO sparse @ dense, sampled dense-dense products). The encoder matmul is the only dense one.
Inputs are scaled so E‖x‖ = √d_in during training; the scale is folded into the saved weights.
Everything lives on ``TrainConfig.device`` (CPU, CUDA or MPS); checkpoints hold CPU tensors, so a run can resume
on another device. Where a device lacks a sparse kernel, a chunked dense-gather equivalent is used instead.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from ..engine.device import pick_device
from ..sae.autoencoder import SAE
from ..sae.sae_config import SAEConfig
from ..support.atomic import atomic_write_files, finish_interrupted_write

if TYPE_CHECKING:
    from .activation_store import ActivationStore

CHECKPOINT_GROUP = "checkpoint"  # atomic_write_files group of save_checkpoint


@dataclass
class TrainConfig:
    d_sae: int
    k: int = 32
    batch_size: int = 4096
    total_tokens: int = 2_000_000
    lr: float | None = None  # default 2e-4 / sqrt(d_sae / 16384)
    lr_decay_frac: float = 0.2  # linear decay to 0 over the last fraction of training
    aux_k: int | None = None  # default d_in // 2
    aux_alpha: float = 1 / 32
    dead_tokens: int = 500_000  # a latent not fired for this many tokens is dead
    b_dec_init: str = "geometric_median"  # or "mean"
    select_dtype: str = "float32"  # "bfloat16": choose the top k from a bf16 matmul, values recomputed in fp32
    seed: int = 0
    checkpoint_every: int = 100  # steps
    outlier_factor: float = 10.0  # rows with norm > factor x median norm (attention sinks) are skipped; 0 = keep all
    device: str = "cpu"  # "cpu", "cuda", "cuda:1", "mps" or "auto" (CUDA, else MPS, else CPU)

    def learning_rate(self) -> float:
        return self.lr if self.lr else 2e-4 / math.sqrt(self.d_sae / 16384)

    def torch_device(self) -> torch.device:
        return pick_device(self.device)


@dataclass
class TrainProgress:
    step: int
    tokens: int
    total_tokens: int
    loss: float
    aux_loss: float
    l0: float
    explained_variance: float
    dead_fraction: float
    tokens_per_s: float
    eta_s: float
    lr: float = 0.0
    extra: dict = field(default_factory=dict)


def geometric_median(x: torch.Tensor, iters: int = 30) -> torch.Tensor:
    """Weiszfeld iterations starting from the mean."""
    m = x.mean(0)
    for _ in range(iters):
        w = 1.0 / (x - m).norm(dim=1).clamp_min(1e-6)
        m = (w[:, None] * x).sum(0) / w.sum()
    return m


# Device types where a sparse kernel raised (e.g. MPS): the dense-gather fallbacks are used there from then on.
_NO_SPARSE: dict[str, set[str]] = {"spmm": set(), "sddmm": set()}
_CHUNK = 1 << 24  # elements of the [entries, d] intermediate per chunk in the dense fallbacks


def _sparse_or_dense(op: str, sparse: Callable[..., torch.Tensor], dense: Callable[..., torch.Tensor],
                     device: torch.device, *args: torch.Tensor | int) -> torch.Tensor:
    if device.type == "cpu" or device.type not in _NO_SPARSE[op]:
        try:
            return sparse(*args)
        except (RuntimeError, NotImplementedError) as e:  # no kernel for this device/layout
            if device.type == "cpu" or isinstance(e, torch.cuda.OutOfMemoryError):
                raise
            _NO_SPARSE[op].add(device.type)
    return dense(*args)


def _spmm_sparse(idx: torch.Tensor, rows: torch.Tensor, vals: torch.Tensor, y: torch.Tensor, n: int) -> torch.Tensor:
    m = torch.sparse_coo_tensor(torch.stack([idx, rows]), vals, (n, y.shape[0]), check_invariants=False)
    return torch.sparse.mm(m, y)


def _spmm_dense(idx: torch.Tensor, rows: torch.Tensor, vals: torch.Tensor, y: torch.Tensor, n: int) -> torch.Tensor:
    out = torch.zeros(n, y.shape[1], dtype=y.dtype, device=y.device)
    step = max(1, _CHUNK // y.shape[1])
    for s in range(0, len(idx), step):
        out.index_add_(0, idx[s : s + step], vals[s : s + step, None] * y[rows[s : s + step]])
    return out


def _spmm_t(idx: torch.Tensor, rows: torch.Tensor, vals: torch.Tensor, y: torch.Tensor, n: int) -> torch.Tensor:
    """out[n, d] with out[idx[i]] += vals[i] * y[rows[i]] (a sparse [n, B] matrix times dense y)."""
    return _sparse_or_dense("spmm", _spmm_sparse, _spmm_dense, y.device, idx, rows, vals, y, n)


def _gather_dot_sparse(idx: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    b, k = idx.shape
    crow = torch.arange(0, b * k + 1, k, dtype=torch.int64, device=idx.device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        pattern = torch.sparse_csr_tensor(crow, idx.reshape(-1), torch.zeros(b * k, dtype=y.dtype, device=y.device),
                                          (b, w.shape[0]), check_invariants=False)
    return torch.sparse.sampled_addmm(pattern, y, w.T, beta=0.0).values().view(b, k)


def _gather_dot_dense(idx: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    b, k = idx.shape
    step = max(1, _CHUNK // (k * w.shape[1]))
    return torch.cat([torch.bmm(w[idx[s : s + step]], y[s : s + step, :, None])[..., 0] for s in range(0, b, step)])


def _gather_dot(idx: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """out[b, j] = y[b] · w[idx[b, j]] as a sampled dense-dense product (never forms [B, d_sae])."""
    return _sparse_or_dense("sddmm", _gather_dot_sparse, _gather_dot_dense, y.device, idx, y, w)


class TopKTrainer:
    """Holds the parameters (training space), Adam state and dead-latent counters; ``step(x)`` trains one batch."""

    NAMES = ("W_encT", "b_enc", "W_dec", "b_dec")

    def __init__(self, d_in: int, cfg: TrainConfig) -> None:
        self.d_in, self.cfg = d_in, cfg
        self.device = dev = cfg.torch_device()
        g = torch.Generator().manual_seed(cfg.seed)  # on the CPU: the same initial weights on every device
        w = torch.randn(cfg.d_sae, d_in, generator=g)
        self.W_dec = (w / w.norm(dim=1, keepdim=True)).to(dev)
        self.W_encT = self.W_dec.clone()  # W_enc = W_dec^T
        self.b_enc = torch.zeros(cfg.d_sae, device=dev)
        self.b_dec = torch.zeros(d_in, device=dev)
        self.scale = 1.0
        self.outlier_norm = float("inf")  # raw-space norm above which a row is skipped
        self.since_fired = torch.zeros(cfg.d_sae, dtype=torch.int64, device=dev)
        self.step_n = 0
        self.tokens = 0
        self.opt = torch.optim.Adam(self.params(), lr=cfg.learning_rate(), betas=(0.9, 0.999), eps=1e-8)

    def params(self) -> list[torch.Tensor]:
        return [getattr(self, n) for n in self.NAMES]

    def init_from_sample(self, x: torch.Tensor) -> None:
        """Input scale (√d_in / mean norm) and b_dec from a sample of raw activations."""
        x = x.to(self.device)
        n = x.norm(dim=1)
        if self.cfg.outlier_factor > 0:
            self.outlier_norm = float(self.cfg.outlier_factor * n.median())
            x = x[n <= self.outlier_norm]
            n = n[n <= self.outlier_norm]
        self.scale = float(math.sqrt(self.d_in) / n.mean())
        xs = x * self.scale
        self.b_dec.copy_(geometric_median(xs) if self.cfg.b_dec_init == "geometric_median" else xs.mean(0))

    # --- one step ------------------------------------------------------------------------------------
    def encode_topk(self, x_in: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.cfg.select_dtype == "bfloat16":
            pre = (x_in.bfloat16() @ self.W_encT.bfloat16().T).float() + self.b_enc
            _, idx = pre.topk(k, dim=1, sorted=False)
            vals = _gather_dot(idx, x_in, self.W_encT) + self.b_enc[idx]
        else:
            pre = torch.addmm(self.b_enc, x_in, self.W_encT.T)
            vals, idx = pre.topk(k, dim=1, sorted=False)
        return pre, vals, idx

    def step(self, x_raw: torch.Tensor, lr: float | None = None) -> dict[str, float]:
        cfg, S, dev = self.cfg, self.cfg.d_sae, self.device
        x_raw = x_raw.to(dev, non_blocking=True)  # no-op on the CPU
        if math.isfinite(self.outlier_norm):
            x_raw = x_raw[x_raw.norm(dim=1) <= self.outlier_norm]
        x = x_raw * self.scale
        B = x.shape[0]
        x_in = x - self.b_dec
        pre, vals, idx = self.encode_topk(x_in, cfg.k)
        a = vals.clamp_min(0)
        x_hat = F.embedding_bag(idx, self.W_dec, per_sample_weights=a, mode="sum") + self.b_dec
        e = x_hat - x
        denom = (x - x.mean(0)).pow(2).sum().clamp_min(1e-12)
        fvu = e.pow(2).sum() / denom
        g = 2 * e / denom
        rows = torch.arange(B, device=dev).repeat_interleave(cfg.k)
        fired = torch.bincount(idx[a > 0], minlength=S) > 0
        self.since_fired += B
        self.since_fired[fired] = 0
        dead = torch.nonzero(self.since_fired > cfg.dead_tokens).squeeze(1)

        d_vals = _gather_dot(idx, g, self.W_dec) * (vals > 0)
        dec_idx, dec_rows, dec_w, Y = [idx.reshape(-1)], [rows], [a.reshape(-1)], [g]
        enc_idx, enc_w = [idx.reshape(-1)], [d_vals.reshape(-1)]
        enc_rows = [rows]
        aux = torch.zeros((), device=dev)
        if len(dead) > 0:
            ka = min(cfg.aux_k or self.d_in // 2, len(dead))
            pv, j = pre[:, dead].topk(ka, dim=1, sorted=False)
            ia = dead[j]
            if cfg.select_dtype == "bfloat16":
                pv = _gather_dot(ia, x_in, self.W_encT) + self.b_enc[ia]
            aa = pv.clamp_min(0)
            r = -e
            r_hat = F.embedding_bag(ia, self.W_dec, per_sample_weights=aa, mode="sum")
            denom_a = (r - r.mean(0)).pow(2).sum().clamp_min(1e-12)
            w_aux = cfg.aux_alpha * min(len(dead) / ka, 1.0)
            aux = (r_hat - r).pow(2).sum() / denom_a
            g_a = w_aux * 2 * (r_hat - r) / denom_a
            rows_a = torch.arange(B, device=dev).repeat_interleave(ka)
            dva = _gather_dot(ia, g_a, self.W_dec) * (pv > 0)
            dec_idx.append(ia.reshape(-1))
            dec_rows.append(rows_a + B)
            dec_w.append(aa.reshape(-1))
            Y.append(g_a)
            enc_idx.append(ia.reshape(-1))
            enc_rows.append(rows_a)
            enc_w.append(dva.reshape(-1))

        ei, ew = torch.cat(enc_idx), torch.cat(enc_w)
        gW_dec = _spmm_t(torch.cat(dec_idx), torch.cat(dec_rows), torch.cat(dec_w), torch.cat(Y), S)
        gW_dec -= (gW_dec * self.W_dec).sum(1, keepdim=True) * self.W_dec  # keep rows on the unit sphere
        gW_encT = _spmm_t(ei, torch.cat(enc_rows), ew, x_in, S)
        gb_enc = torch.bincount(ei, weights=ew, minlength=S).to(x.dtype)
        gb_dec = g.sum(0) - gb_enc @ self.W_encT
        for p, gr in zip(self.params(), (gW_encT, gb_enc, gW_dec, gb_dec)):
            p.grad = gr
        if lr is not None:
            for group in self.opt.param_groups:
                group["lr"] = lr
        self.opt.step()
        self.W_dec /= self.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12)
        self.step_n += 1
        self.tokens += B
        return {"loss": float(fvu) + cfg.aux_alpha * float(aux), "fvu": float(fvu), "aux_loss": float(aux),
                "l0": float((a > 0).sum()) / B, "dead_fraction": len(dead) / S}

    # --- export / checkpoints ------------------------------------------------------------------------
    def to_sae(self, hook_name: str = "", model_name: str = "", metadata: dict | None = None) -> SAE:
        """A CPU SAE on raw activations: the input scale s is folded in (b_enc/s, b_dec/s; activations come out /s)."""
        s = self.scale
        meta = dict(metadata or {})
        if math.isfinite(self.outlier_norm):
            meta["outlier_norm_threshold"] = self.outlier_norm
        cfg = SAEConfig(self.d_in, self.cfg.d_sae, architecture="topk", k=self.cfg.k, hook_name=hook_name,
                        model_name=model_name, metadata=meta)
        sae = SAE(cfg)
        with torch.no_grad():
            sae.W_enc.copy_(self.W_encT.T)
            sae.b_enc.copy_(self.b_enc / s)
            sae.W_dec.copy_(self.W_dec)
            sae.b_dec.copy_(self.b_dec / s)
        return sae

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """(CPU tensors, JSON meta): device-independent, so a checkpoint resumes on any device."""
        t = {n: p.contiguous().cpu() for n, p in zip(self.NAMES, self.params())}  # .cpu(): no copy on the CPU
        t["since_fired"] = self.since_fired.cpu()
        for i, p in enumerate(self.params()):
            st = self.opt.state.get(p, {})
            if st:
                t[f"adam{i}.m"], t[f"adam{i}.v"] = st["exp_avg"].cpu(), st["exp_avg_sq"].cpu()
                t[f"adam{i}.step"] = torch.as_tensor(st["step"], dtype=torch.float32).cpu().reshape(1)
        meta = {"step": self.step_n, "tokens": self.tokens, "scale": self.scale, "d_in": self.d_in,
                "outlier_norm": self.outlier_norm if math.isfinite(self.outlier_norm) else None,
                "config": asdict(self.cfg)}
        return t, meta

    def save_checkpoint(self, folder: Path, **extra: Any) -> None:
        """Tensors and meta are written as one (a crash leaves the previous checkpoint or this one, never a mix)."""
        t, meta = self.state()
        atomic_write_files(folder, {"checkpoint.safetensors": lambda path: save_file(t, str(path)),
                                    "checkpoint.json": json.dumps({**meta, **extra}, indent=1).encode()},
                           group=CHECKPOINT_GROUP)

    @classmethod
    def load_checkpoint(cls, folder: Path, device: str | None = None) -> tuple[TopKTrainer, dict]:
        """Resume onto ``device`` (default: the device named in the checkpoint's config)."""
        finish_interrupted_write(folder, CHECKPOINT_GROUP)
        meta = json.loads((folder / "checkpoint.json").read_text())
        t = load_file(str(folder / "checkpoint.safetensors"))  # CPU tensors
        cfg = TrainConfig(**meta["config"])
        if device is not None:
            cfg.device = str(device)
        tr = cls(int(meta["d_in"]), cfg)
        for n, p in zip(cls.NAMES, tr.params()):
            p.copy_(t[n])
        tr.since_fired.copy_(t["since_fired"])
        for i, p in enumerate(tr.params()):
            if f"adam{i}.m" in t:  # Adam keeps "step" on the CPU (capturable=False), the moments beside the params
                tr.opt.state[p] = {"step": t[f"adam{i}.step"][0].clone(),
                                   "exp_avg": t[f"adam{i}.m"].to(tr.device, copy=True),
                                   "exp_avg_sq": t[f"adam{i}.v"].to(tr.device, copy=True)}
        tr.scale, tr.step_n, tr.tokens = float(meta["scale"]), int(meta["step"]), int(meta["tokens"])
        tr.outlier_norm = float(meta["outlier_norm"]) if meta.get("outlier_norm") else float("inf")
        return tr, meta


def train(store: ActivationStore, cfg: TrainConfig, out: str | Path,
          progress: Callable[[TrainProgress], None] | None = None, cancel: Callable[[], bool] | None = None,
          log_every: int = 10) -> TopKTrainer:
    """Train on an ActivationStore for ``cfg.total_tokens`` tokens (several shuffled epochs if needed).
    Resumes from ``out/checkpoint.*`` (on ``cfg.device``, whatever device wrote it); returns the trainer (call
    ``to_sae``). Cancellation checkpoints and returns. Batches come from the store on the CPU and move to the device."""
    torch.manual_seed(cfg.seed)
    out = Path(out)
    finish_interrupted_write(out, CHECKPOINT_GROUP)
    if (out / "checkpoint.json").exists():
        tr, meta = TopKTrainer.load_checkpoint(out, device=cfg.device)
        tr.cfg = cfg
    else:
        tr = TopKTrainer(store.d, cfg)
        tr.init_from_sample(store.sample(min(20_000, store.n_tokens), seed=cfg.seed))
    steps_per_epoch = store.n_batches(cfg.batch_size)
    if steps_per_epoch < 1:
        raise ValueError(f"the store holds {store.n_tokens} tokens, fewer than one batch of {cfg.batch_size}")
    total_steps = max(1, cfg.total_tokens // cfg.batch_size)
    base_lr, decay_from = cfg.learning_rate(), int(total_steps * (1 - cfg.lr_decay_frac))
    t0, tok0, acc = time.time(), tr.tokens, []
    while tr.step_n < total_steps:
        epoch, start = divmod(tr.step_n, steps_per_epoch)
        for x in store.batches(cfg.batch_size, seed=cfg.seed, epoch=epoch, start=start):
            if tr.step_n >= total_steps:
                break
            if cancel is not None and cancel():
                tr.save_checkpoint(out)
                return tr
            decay = (total_steps - tr.step_n) / max(1, total_steps - decay_from)
            lr = base_lr if tr.step_n < decay_from else base_lr * decay
            acc.append(tr.step(x, lr=lr))
            if tr.step_n % cfg.checkpoint_every == 0:
                tr.save_checkpoint(out)
            if progress and (tr.step_n % log_every == 0 or tr.step_n == total_steps):
                el = time.time() - t0
                rate = (tr.tokens - tok0) / max(el, 1e-9)
                m = {key: sum(d[key] for d in acc) / len(acc) for key in acc[0]}
                acc = []
                progress(TrainProgress(tr.step_n, tr.tokens, total_steps * cfg.batch_size, m["loss"], m["aux_loss"],
                                       m["l0"], 1 - m["fvu"], m["dead_fraction"], rate,
                                       (total_steps - tr.step_n) * cfg.batch_size / max(rate, 1e-9), lr))
    tr.save_checkpoint(out)
    return tr
