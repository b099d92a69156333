"""Tiny random models and a tiny tokenizer, built from configs in a second, for fast unit tests."""

from __future__ import annotations

import functools

import torch

from desktop_sae.core.engine.models import LoadedModel
from desktop_sae.core.sae.autoencoder import SAE
from desktop_sae.core.sae.sae_config import TRANSCODERS, SAEConfig

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TRAIN_TEXT = (
    "the quick brown fox jumps over the lazy dog. a bridge in san francisco is golden. "
    "def add(a, b): return a + b. secrets are kept in a safe. hello world, how are you today? "
) * 20


@functools.cache
def tiny_tokenizer(chat_template: bool = True):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([TRAIN_TEXT], trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        unk_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )
    if chat_template:
        fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_model(family: str = "llama", vocab: int | None = None, layers: int = 3, seed: int = 0):
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        GPTNeoXConfig,
        GPTNeoXForCausalLM,
        LlamaConfig,
        LlamaForCausalLM,
    )

    vocab = vocab or len(tiny_tokenizer())
    torch.manual_seed(seed)
    if family == "llama":
        cfg = LlamaConfig(
            vocab_size=vocab,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=layers,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=512,
            tie_word_embeddings=True,
            bos_token_id=1,
            eos_token_id=2,
        )
        model = LlamaForCausalLM(cfg)
    elif family == "gpt2":
        cfg = GPT2Config(
            vocab_size=vocab, n_embd=64, n_layer=layers, n_head=4, n_positions=512, bos_token_id=1, eos_token_id=2
        )
        model = GPT2LMHeadModel(cfg)
    elif family == "gpt_neox":
        cfg = GPTNeoXConfig(
            vocab_size=vocab,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=layers,
            num_attention_heads=4,
            max_position_embeddings=512,
            bos_token_id=1,
            eos_token_id=2,
        )
        model = GPTNeoXForCausalLM(cfg)
    else:
        raise ValueError(family)
    return model.eval().requires_grad_(False)


def tiny_lm(family: str = "llama", dtype=torch.float32, chat_template: bool = True, seed: int = 0) -> LoadedModel:
    tok = tiny_tokenizer(chat_template)
    model = tiny_model(family, len(tok), seed=seed).to(dtype)
    return LoadedModel(
        model=model,
        tokenizer=tok,
        name=f"tiny-{family}",
        source="memory",
        location="memory",
        device=torch.device("cpu"),
        dtype=dtype,
    )


def random_sae(
    d_in: int = 64,
    d_sae: int = 256,
    arch: str = "topk",
    k: int = 8,
    hook: str = "blocks.1.hook_resid_post",
    seed: int = 0,
    model_name: str = "",
    **cfg_kw,
) -> SAE:
    """A random SAE of any architecture; a transcoder reads at the hook's layer's MLP input and writes at its output
    (``d_out`` = ``d_in`` unless given)."""
    g = torch.Generator().manual_seed(seed)
    if arch in TRANSCODERS:
        layer = hook.split(".")[1]
        cfg_kw = {"d_out": d_in, "apply_b_dec_to_input": False, "hook_name_out": f"blocks.{layer}.hook_mlp_out",
                  **cfg_kw}
        hook = f"blocks.{layer}.hook_mlp_in" if hook.endswith("hook_resid_post") else hook
    cfg = SAEConfig(d_in, d_sae, arch, k=k if arch == "topk" else None, hook_name=hook, model_name=model_name, **cfg_kw)
    sae = SAE(cfg)
    d_out = sae.output_width
    with torch.no_grad():
        sae.W_dec.copy_(torch.nn.functional.normalize(torch.randn(d_sae, d_out, generator=g), dim=-1))
        tied = sae.W_dec.T if d_out == d_in else torch.zeros(d_in, d_sae)
        sae.W_enc.copy_(tied + 0.1 * torch.randn(d_in, d_sae, generator=g))
        sae.b_enc.copy_(0.05 * torch.randn(d_sae, generator=g))
        sae.b_dec.copy_(0.05 * torch.randn(d_out, generator=g))
        if "jumprelu" in arch:
            sae.threshold.copy_(0.1 * torch.rand(d_sae, generator=g))
        if "skip" in arch:
            sae.W_skip.copy_(0.05 * torch.randn(d_out, d_in, generator=g))
        if arch == "gated":
            sae.b_gate.copy_(0.05 * torch.randn(d_sae, generator=g))
            sae.b_mag.copy_(0.05 * torch.randn(d_sae, generator=g))
            sae.r_mag.copy_(0.1 * torch.randn(d_sae, generator=g))
    return sae


# --- sessions and loaders for the app's tests (controller, GUI) ---------------------------------------------------
def with_stats(sae: SAE, max_act: float = 2.0) -> SAE:
    """Give a random SAE feature statistics (max / mean activation, density) like a trained one has."""
    import numpy as np

    from desktop_sae.core.sae.sae_config import FeatureStats

    d = sae.cfg.d_sae
    sae.stats = FeatureStats(
        np.full(d, max_act, np.float32),
        np.full(d, max_act / 3, np.float32),
        np.linspace(0.001, 0.05, d).astype(np.float32),
    )
    return sae


def save_tiny_llama(folder, seed: int = 0, layers: int = 3):
    """A tiny random Llama and its tokenizer written as a Hugging Face folder (what the lite engine loads)."""
    tiny_model("llama", layers=layers, seed=seed).save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder


def save_tiny_sae(folder, d_sae: int = 256, seed: int = 0, d_in: int = 64):
    from desktop_sae.core.sae.formats import save_sae

    save_sae(with_stats(random_sae(d_in=d_in, d_sae=d_sae, k=8, hook="blocks.1.hook_resid_post", seed=seed)), folder)
    return folder


def _session_class():
    import time

    from desktop_sae.core.engine.session import Session

    class TestSession(Session):
        """A Session that can sleep before every token (to watch streaming and Stop) and fail on request."""

        delay = 0.0
        fail_next: Exception | None = None

        def generate(self, *a, cancel=None, **kw):
            if self.fail_next is not None:
                e, self.fail_next = self.fail_next, None
                raise e
            inner = cancel or (lambda: False)

            def slow_cancel():
                if self.delay:
                    time.sleep(self.delay)
                return inner()

            return super().generate(*a, cancel=slow_cancel, **kw)

    return TestSession


def make_loader(sae_dir, delay: float = 0.0, session_class=None):
    """An app loader (LoadRequest, progress, cancelled) -> Session: the tiny model with the SAE in ``sae_dir``."""
    from desktop_sae.core.sae.formats import load_sae

    def loader(req, progress, cancelled=None):
        progress(0.5, "building a tiny model")
        cls = session_class or _session_class()
        s = cls(tiny_lm(), top_k_features=16)
        s.delay = delay
        s.attach_sae(load_sae(sae_dir))
        return s

    return loader
