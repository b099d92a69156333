"""``desktop-sae generate``: one answer (optionally steered, optionally beside the default answer) with per-token
features; or a batch (``--prompt-file`` and/or ``--seeds``) printed as one JSON object per line, the model loaded
once."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, replace

from ..core.engine.batch_rows import DEFAULT_CHUNK, BatchAnswer, BatchRow
from ..core.engine.sampling import SamplingConfig
from ..core.steering.specs import NO_STEERING, SteeringConfig
from ..core.steering.syntax import parse_steer
from ..core.support.prompt_file import parse_seeds, read_prompts
from .common import add_model_args, add_nnsight_args, session_from_args


def register(sub) -> None:
    p = sub.add_parser("generate", help="generate text, optionally steered, with per-token features")
    add_model_args(p)
    add_nnsight_args(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompt")
    src.add_argument("--prompt-file", help="batch: one prompt per line, or .jsonl with a \"prompt\" field")
    p.add_argument("--system", default=None, help="system prompt (chat template)")
    p.add_argument("--raw", action="store_true", help="treat the prompt as plain text, not a chat message")
    p.add_argument("--steer", action="append", default=[], metavar="F=V[x][:add|clamp|orth|cap][@G>T[x]]",
                   help="steer feature F with strength V (raw) or Vx (x max activation); repeatable")
    p.add_argument("--multiplier", type=float, default=1.0, help="global steering multiplier")
    p.add_argument("--steer-special", action="store_true", help="also steer BOS / special tokens")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--seeds", default=None, help="batch: seeds as a range or list, e.g. 1000-1002 or 1,5,9")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--temperature", type=float, default=0.5, help="0 = greedy")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--frequency-penalty", type=float, default=1.0)
    p.add_argument("--repetition-penalty", type=float, default=1.0)
    p.add_argument("--compare", action="store_true", help="also generate the unsteered answer with the same seed")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object instead of streaming text (a batch: one object per line)")
    p.add_argument("--with-prompt", action="store_true", help="with --json: include the prompt's tokens")
    p.add_argument("--batch", type=int, default=DEFAULT_CHUNK,
                   help=f"batch: answers generated together (default {DEFAULT_CHUNK}; 1 = one at a time, exactly as "
                        "--prompt makes each)")
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
    if args.prompt_file is not None or args.seeds is not None:
        return cmd_batch(args)
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


def cmd_batch(args) -> int:
    """Every prompt x every seed, steered (and with --compare the default answer from the same seed), ``--batch``
    answers generated together; each line is printed once its answers (and those before them) have ended."""
    prompts = read_prompts(args.prompt_file) if args.prompt_file is not None else [args.prompt]
    seeds = parse_seeds(args.seeds) if args.seeds is not None else [args.seed]
    base, steering = _sampling(args), _steering(args)  # bad settings fail before the model loads
    if not 1 <= args.batch <= 256:
        raise ValueError("--batch must be 1..256")
    session = session_from_args(args, quiet=True)
    session.plan(steering)
    units = session.steering_units(steering) if steering.active else []
    jobs = [(prompt, seed) for prompt in prompts for seed in seeds]
    per = 2 if args.compare else 1  # rows per line: steered (and default)
    rows = []
    for prompt, seed in jobs:
        ids = tuple(session.prompt_ids(prompt, args.system, chat=not args.raw))
        sampling = replace(base, seed=seed)
        rows += [BatchRow(ids, sampling, steering), BatchRow(ids, sampling, NO_STEERING)][:per]
    ended: dict[int, BatchAnswer] = {}
    printed: list[int] = []

    def answered(i: int, answer: BatchAnswer) -> None:
        ended[i] = answer
        while len(printed) < len(jobs) and all(per * len(printed) + k in ended for k in range(per)):
            j = len(printed)
            _print_line(args, jobs[j], [ended[per * j + k] for k in range(per)], units, steering)
            printed.append(j)

    session.generate_rows(rows, chunk=args.batch, on_answer=answered)
    return 0


def _print_line(args, job: tuple[str, int], answers: list[BatchAnswer], units: list[dict],
                steering: SteeringConfig) -> None:
    """One prompt and seed: its steered answer (and the default one) as a JSON line or as text."""
    (prompt, seed), res = job, answers[0]
    out = {"prompt": prompt, "seed": seed, "text": res.text, "stop_reason": res.stop_reason,
           "n_tokens": len(res.answer_ids)}
    if args.compare:
        out["default_text"] = answers[1].text
    if args.json:
        out.update(steering=units, multiplier=steering.multiplier, skip_special=steering.skip_special,
                   sampling=asdict(replace(_sampling(args), seed=seed)), system=args.system)
        print(json.dumps(out, ensure_ascii=False), flush=True)
    else:
        print(f"--- {prompt!r} seed {seed} ---\n{res.text}")
        if args.compare:
            print(f"--- default ---\n{out['default_text']}")
