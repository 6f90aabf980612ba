"""Which model classifies requests: `static` (router.judgment, the default) or `ngram`."""

from __future__ import annotations

from collections.abc import Sequence

from router import judgment
from router.classifier import Classifier, KeywordRules, train

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
    static: the shipped model (router/data), its linear heads refitted when `extra` is
    given or the categories differ from the shipped ones; `examples` are not used (its
    corpus ships with it), and `rules` only report keyword hits (they move nothing).
    """
    if kind == "ngram":
        return train([*examples, *extra], categories, rules or KeywordRules.compile({}),
                     keyword_boost=keyword_boost)  # fmt: skip
    if kind == "static":
        added = judgment.examples_from_pairs(extra)
        model = judgment.load(categories, default, added)
        if rules is not None:
            model = judgment.StaticClassifier(
                model.reader, model.heads, rules=rules, projected=model.projected
            )
        return model
    raise ValueError(f"unknown router model {kind!r}; one of {KINDS}")
