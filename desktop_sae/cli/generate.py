"""``desktop-sae generate``: one answer (optionally steered, optionally beside the default answer) with per-token
features."""

from __future__ import annotations

import json
import sys

from ..core.config import SamplingConfig, SteeringConfig, parse_steer
from .common import add_model_args, session_from_args


def register(sub) -> None:
    p = sub.add_parser("generate", help="generate text, optionally steered, with per-token features")
    add_model_args(p)
    p.add_argument("--prompt", required=True)
    p.add_argument("--system", default=None, help="system prompt (chat template)")
    p.add_argument("--raw", action="store_true", help="treat the prompt as plain text, not a chat message")
    p.add_argument("--steer", action="append", default=[], metavar="F=V[x][:add|clamp|orth|cap][@G>T[x]]",
                   help="steer feature F with strength V (raw) or Vx (x max activation); repeatable")
    p.add_argument("--multiplier", type=float, default=1.0, help="global steering multiplier")
    p.add_argument("--steer-special", action="store_true", help="also steer BOS / special tokens")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--temperature", type=float, default=0.5, help="0 = greedy")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--frequency-penalty", type=float, default=1.0)
    p.add_argument("--repetition-penalty", type=float, default=1.0)
    p.add_argument("--compare", action="store_true", help="also generate the unsteered answer with the same seed")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of streaming text")
    p.add_argument("--with-prompt", action="store_true", help="with --json: include the prompt's tokens")
    p.set_defaults(func=cmd_generate)


def _sampling(args) -> SamplingConfig:
    return SamplingConfig(
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        frequency_penalty=args.frequency_penalty,
        repetition_penalty=args.repetition_penalty,
        seed=args.seed,
        max_new_tokens=args.max_tokens,
    ).validate()


def _steering(args) -> SteeringConfig:
    return SteeringConfig(
        tuple(parse_steer(s) for s in args.steer), multiplier=args.multiplier, skip_special=not args.steer_special
    )


def _token_json(e) -> dict:
    feats = [] if e.top_ids is None else [[int(i), round(float(v), 4)] for i, v in zip(e.top_ids, e.top_vals) if v > 0]
    return {"text": e.text, "id": e.token_id, "prompt": e.is_prompt, "features": feats}


def cmd_generate(args) -> int:
    session = session_from_args(args, quiet=args.json)
    sampling, steering = _sampling(args), _steering(args)
    session.plan(steering)  # validate before any generation
    stream = None if args.json else (lambda e: (e.is_prompt or sys.stdout.write(e.delta), sys.stdout.flush()))
    kw = dict(system=args.system, chat=not args.raw, on_token=stream)
    if args.compare:
        if not args.json:
            print("--- steered ---")
        steered = session.generate(args.prompt, sampling, steering, **kw)
        if not args.json:
            print("\n--- default ---")
        results = (steered, session.generate(args.prompt, sampling, **kw))
    else:
        results = (session.generate(args.prompt, sampling, steering, **kw),)
    main = results[0]
    if args.json:
        out = {
            "text": main.text,
            "tokens": [_token_json(e) for e in main.events if args.with_prompt or not e.is_prompt],
            "stop_reason": main.stop_reason,
            "tokens_per_second": round(main.tokens_per_second, 2),
            "steering": session.steering_units(steering) if steering.active else [],
        }
        if args.compare:
            out["default_text"] = results[1].text
        print(json.dumps(out, ensure_ascii=False))
    else:
        print()
        print(f"[{len(main.answer_ids)} tokens, {main.tokens_per_second:.1f} tok/s, stop: {main.stop_reason}]",
              file=sys.stderr)
    return 0
