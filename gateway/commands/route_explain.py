"""`distillgate route-explain`: why the router sends one prompt where it does."""

from __future__ import annotations

import argparse
import json
import sys

from gateway.commands.guarding import guard_client, with_guard
from gateway.commands.loading import print_problems, router_of
from gateway.config.load import ConfigError
from gateway.config.router_explain import Explainer

HELP = "why the router sends a prompt where it does"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prompt", help="the prompt (all of a request's text)")
    parser.add_argument("--config", help="config file (default: the shipped routing section)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("-k", type=int, default=5, help="nearest training examples to show")


def run(args: argparse.Namespace) -> int:
    try:
        parts = router_of(args.config)
        guard = guard_client(args.config)
    except ConfigError as exc:
        print_problems(exc)
        return 1
    found = Explainer().explain(parts.classifier, parts.policy, args.prompt, {}, args.k)
    body = found.as_json()
    if guard is not None:  # the guard's part, asked live as the gateway would
        [(final, verdict)] = with_guard(guard, [(args.prompt, found.classification,
                                                 found.decision)])  # fmt: skip
        body["guard"] = {
            "asked": verdict is not None,
            "outcome": verdict.outcome.value if verdict else None,
            "codes": list(verdict.codes) if verdict else [],
            "then": {"target": final.target.value, "reason": final.reason.value,
                     "category": final.category},
        }  # fmt: skip
    if args.json:
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return 0
    out = sys.stdout
    print(f"{body['target']} ({body['reason']}), category {body['category']}", file=out)
    risk = body["high_risk"]
    print(f"harmful probability: {'-' if risk is None else risk}; readable share "
          f"{body['readable']}{' (unreadable)' if body['unreadable'] else ''}; "
          f"keyword hits: {', '.join(body['keyword_hits']) or 'none'}", file=out)  # fmt: skip
    top = list(body["probabilities"].items())[:5]
    print("categories: " + ", ".join(f"{k} {v:.3f}" for k, v in top), file=out)
    print("thresholds (request value against threshold; the sign of the distance flips it):",
          file=out)  # fmt: skip
    for name, t in body["thresholds"].items():
        print(f"  {name:<20} {t['request']:.3f} vs {t['threshold']:.3f} "
              f"(distance {t['distance']:+.3f})", file=out)  # fmt: skip
    if "guard" in body:
        g = body["guard"]
        then = g["then"]
        said = f"{g['outcome']} {','.join(g['codes'])}".strip() if g["asked"] else "not asked"
        print(f"guard: {said} -> {then['target']} ({then['reason']}), {then['category']}",
              file=out)  # fmt: skip
    if body["nearest_examples"]:
        print("nearest training examples:", file=out)
        for n in body["nearest_examples"]:
            text = n["text"] if len(n["text"]) <= 90 else n["text"][:87] + "..."
            print(f"  {n['similarity']:.3f} {n['label']:<10} {n['source']:<18} {text}", file=out)
    return 0
