"""``desktop-sae attribute``: the attribution graph of one answer token, as JSON (the schema in
resources/schemas/attribution_graph.schema.json) or as a short table."""

from __future__ import annotations

import json
import sys
from typing import Any

from .common import add_model_args, session_from_args, throttled_progress


def register(sub: Any) -> None:
    a = sub.add_parser("attribute", help="why the model predicts a token: an attribution graph from the token back "
                                         "through SAE features at several depths to the prompt")
    add_model_args(a)
    a.add_argument("--prompt", required=True, help="the user's message (chat template applied), or text with --raw")
    a.add_argument("--answer", default="", help="the start of the assistant's answer before the target token")
    a.add_argument("--raw", action="store_true", help="use --prompt as plain text, without the chat template")
    a.add_argument("--target", default=None,
                   help="the token to explain: its text (one token, e.g. ' Paris') or #ID; default: the model's top "
                        "prediction")
    a.add_argument("--alt", default=None, help="an alternative token: the target becomes the logit difference")
    a.add_argument("--node-threshold", type=float, default=0.8, help="share of |effect| kept in nodes (0.8)")
    a.add_argument("--edge-threshold", type=float, default=0.98, help="share of |weight| kept in edges (0.98)")
    a.add_argument("--max-nodes", type=int, default=100, help="at most this many feature and error nodes")
    a.add_argument("--linearisation", choices=["live", "attention", "frozen"], default="live",
                   help="what is held at its clean value when differentiating (docs/ATTRIBUTION.md)")
    a.add_argument("--depth-sae", action="append", default=[], metavar="FOLDER",
                   help="another residual SAE folder to add as a depth (repeatable)")
    a.add_argument("--check", type=int, default=0, metavar="N",
                   help="ablate the N strongest feature nodes and report predicted vs actual changes")
    a.add_argument("--json", action="store_true", help="print the graph JSON")
    a.add_argument("--out", default=None, help="write the graph JSON to this file (atomically)")
    a.set_defaults(func=cmd_attribute)


def token_id(tokenizer: Any, text: str, what: str) -> int:
    """``#123`` or text that is exactly one token."""
    if text.startswith("#") and text[1:].isdigit():
        return int(text[1:])
    from ..core.engine.chat_prompt import answer_ids

    ids = answer_ids(tokenizer, text)
    if len(ids) != 1:
        pieces = [tokenizer.decode([i]) for i in ids]
        raise ValueError(f"--{what} {text!r} is {len(ids)} tokens ({pieces}); give one token or #ID")
    return int(ids[0])


def cmd_attribute(args: Any) -> int:
    from ..core.attribution.attribute import Settings
    from ..core.attribution.attributor import Attributor
    from ..core.attribution.graph import NodeKind
    from ..core.attribution.graph_json import to_json
    from ..core.attribution.interventions import faithfulness
    from ..core.attribution.llama_functional import Linearisation
    from ..core.engine.chat_prompt import answer_context_ids, text_ids
    from ..core.explanations.catalogs import catalog_for
    from ..core.support.atomic import atomic_write_text

    session = session_from_args(args, quiet=args.json)
    tok = session.lm.tokenizer
    warnings: list[str] = []
    sae = session.sae
    att = Attributor.for_model(session.lm, sae, sae.source_path if sae is not None else None, args.depth_sae,
                               warnings)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    if not att.saes:
        raise ValueError("no residual-stream SAE to build a graph on; give --sae or --depth-sae")
    if args.raw:  # plain text: the answer continues it
        ids = text_ids(tok, args.prompt + args.answer)
    else:
        ids = answer_context_ids(tok, args.prompt, args.answer)
    target = token_id(tok, args.target, "target") if args.target else att.candidates(ids, 1)[0].token_id
    alt = token_id(tok, args.alt, "alt") if args.alt else None
    settings = Settings(args.node_threshold, args.edge_threshold, args.max_nodes, Linearisation(args.linearisation))
    graph, state = att.graph(ids, target, alt, settings, None if args.json else throttled_progress())
    catalogs = {d.layer: catalog_for(d.sae, d.folder) for d in att.saes}

    def label(layer: int, feature: int) -> str:
        return catalogs[layer].label(feature)

    doc = to_json(graph, labeler=label, prompt=args.prompt + args.answer)
    if args.check:
        f = faithfulness(state, graph.features(), args.check)
        doc["desktop_sae"]["check"] = {"spearman": f.spearman, "sign_agreement": f.sign_agreement,
                                       "interventions": [vars(i) for i in f.interventions]}
    text = json.dumps(doc, ensure_ascii=False, indent=1)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    if args.json:
        print(text)
        return 0
    alt_txt = f" − {graph.alt_token!r}" if graph.alt_token is not None else ""
    print(f"target {graph.target_token!r}{alt_txt}: {graph.target_value:.3f} (p {graph.target_prob:.3f}); "
          f"{len(graph.nodes)} nodes, {len(graph.edges)} edges in {graph.seconds:.1f} s; depths {list(graph.depths)}; "
          f"completeness {graph.completeness:.2f}, replacement {graph.replacement:.2f}")
    for n in graph.features()[:15]:
        print(f"  L{n.layer:<3} {graph.tokens[n.position]!r:>14} #{n.feature:<6} effect {n.effect:+.3f}  "
              f"{label(n.layer, n.feature)[:60]}")
    errors = sorted((n for n in graph.nodes if n.kind is NodeKind.ERROR), key=lambda n: -abs(n.effect))[:3]
    for n in errors:
        print(f"  L{n.layer:<3} {graph.tokens[n.position]!r:>14} error   effect {n.effect:+.3f}")
    if args.check:
        c = doc["desktop_sae"]["check"]
        print(f"ablating the top {args.check}: Spearman {c['spearman']:.2f}, sign agreement {c['sign_agreement']:.2f}")
    return 0
