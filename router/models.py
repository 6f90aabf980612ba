"""Which model classifies requests: `static` (router.judgment, the default) or `ngram`."""

from __future__ import annotations

from collections.abc import Sequence

from router import judgment
from router.category_map import MappedClassifier
from router.classifier import Classifier, KeywordRules, train
from router.neighbours import examples_from_pairs

KINDS = ("static", "ngram")


def build(
    kind: str,
    categories: Sequence[str],
    default: str,
    *,
    examples: Sequence[tuple[str, str]] = (),
    extra: Sequence[tuple[str, str]] = (),
    rules: KeywordRules | None = None,
    keyword_boost: float = 0.5,
) -> Classifier:
    """The classifier for the routing settings.

    ngram: trained on `examples` + `extra` (category, prompt) pairs, keyword rules boost it.
    static: the shipped model (router/data), its classes mapped onto `categories`
    (router.category_map); its linear heads refitted when `extra` examples are given.
    `examples` are not used (its corpus ships with it).
    """
    if kind == "ngram":
        return train([*examples, *extra], categories, rules or KeywordRules.compile({}),
                     keyword_boost=keyword_boost)  # fmt: skip
    if kind == "static":
        rules = rules or KeywordRules.compile({})
        if extra:  # the operator's labeled prompts: refit the linear heads (seconds)
            refitted = judgment.load(categories, default, examples_from_pairs(extra))
            return MappedClassifier(refitted, categories, default, rules, keyword_boost)
        return MappedClassifier(judgment.load(), categories, default, rules, keyword_boost)
    raise ValueError(f"unknown router model {kind!r}; one of {KINDS}")
