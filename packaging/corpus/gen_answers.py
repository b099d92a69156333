"""Generate the bundled model's chat answers to packaging/corpus/prompts.py, written as JSONL {"text", ...}.

Each record's text is the full chat-formatted conversation (system, user, assistant), the way the app feeds it.
Usage: python packaging/corpus/gen_answers.py OUT.jsonl [--samples 2] [--max-new 160] [--batch 16]
       [--categories golden_gate,scam,secrets] [--seed-offset 1000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from prompts import all_prompts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--max-new", type=int, default=160)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--categories", default="", help="comma-separated prompt categories (default: all)")
    ap.add_argument("--seed-offset", type=int, default=1000, help="answers in a second file need other seeds")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", default="seed", choices=("seed", "everyday", "golden_gate"),
                    help="seed: prompts.py (seed concepts + everyday); everyday: everyday_prompts.py (broad corpus); "
                    "golden_gate: golden_gate_prompts.py (more Golden Gate / San Francisco answers)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    from desktop_sae.core.engine.models import load_model

    lm = load_model()
    tok, model = lm.tokenizer, lm.model
    tok.padding_side = "left"
    if a.set == "everyday":
        from everyday_prompts import everyday_prompts

        prompts = everyday_prompts()
    elif a.set == "golden_gate":
        from golden_gate_prompts import golden_gate_prompts

        prompts = golden_gate_prompts()
    else:
        prompts = all_prompts()
    if a.categories:
        prompts = [(c, p) for c, p in prompts if c in a.categories.split(",")]
    if a.limit:
        prompts = prompts[: a.limit]
    jobs = [(c, p, s) for s in range(a.samples) for c, p in prompts]
    out = Path(a.out)
    done = sum(1 for _ in out.open()) if out.exists() else 0
    t0, n_tok = time.time(), 0
    with out.open("a", encoding="utf-8") as f:
        for i in range(done, len(jobs), a.batch):
            chunk = jobs[i : i + a.batch]
            texts = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                             add_generation_prompt=True)
                     for _, p, _ in chunk]
            enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            torch.manual_seed(a.seed_offset + i)
            with torch.no_grad():
                gen = model.generate(**enc, max_new_tokens=a.max_new, do_sample=True, temperature=0.7, top_p=0.9,
                                     repetition_penalty=1.1, pad_token_id=tok.pad_token_id)
            new = gen[:, enc.input_ids.shape[1]:]
            for (cat, p, s), prompt_text, ids in zip(chunk, texts, new):
                ids = ids[ids != tok.pad_token_id]
                n_tok += len(ids)
                answer = tok.decode(ids, skip_special_tokens=True).strip()
                f.write(json.dumps({"text": prompt_text + answer + "<|im_end|>\n", "category": cat, "prompt": p,
                                    "sample": s, "source": "model-answers"}) + "\n")
            f.flush()
            el = time.time() - t0
            print(f"{i + len(chunk)}/{len(jobs)} answers, {n_tok} new tokens, {n_tok / el:.0f} tok/s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
