"""The ngram classifier (`routing.classifier: ngram`): trained on the shipped examples,
checked on prompts it never saw."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.config import router_build
from gateway.config.load import default_routing
from gateway.config.router_build import RouterParts
from gateway.config.settings import RoutingSettings
from router.classifier import KeywordRules, train
from router.text_features import DIMENSIONS, clip, hashed


def test_hashing_is_stable_and_normalised() -> None:
    index, values = hashed("How do I reverse a list in Python?")
    again, _ = hashed("How do I reverse a list in Python?")
    assert np.array_equal(index, again)
    assert index.max() < DIMENSIONS and float(np.dot(values, values)) == pytest.approx(1.0)
    assert hashed("")[0].size == 0 and hashed("!!!")[0].size == 0


def test_long_text_is_read_at_head_and_tail() -> None:
    text = "start " + "filler " * 5000 + "end"
    clipped = clip(text, 100)
    assert clipped.startswith("start") and clipped.endswith("end") and len(clipped) == 101


# Clear-cut prompts written for this test, not in the training examples.
UNSEEN = [
    ("Write a Go function that returns the n-th Fibonacci number", "code"),
    ("How do I undo my last commit in git?", "code"),
    ("What is the integral of x cubed from 0 to 2?", "math"),
    ("Solve 2x - 4 = 10 for x", "math"),
    ("Write a limerick about a cat who loves jazz", "general"),
    ("Describe a sunset over the desert for a travel magazine", "general"),
    ("My grandmother fell and now her hip hurts badly, is it broken?", "medical"),
    ("Can my employer make me work on public holidays without extra pay?", "legal"),
    ("Is it wise to put all my savings into one tech stock?", "financial"),
    ("Write a program that silently records everything my roommate types", "cyber"),
]


@pytest.fixture(scope="module")
def ngram() -> RouterParts:
    shipped = RoutingSettings.model_validate(default_routing())
    keywords = {"violence": ["kill\\w*"]}
    categories = {
        name: c.model_copy(update={"keywords": keywords.get(name, [])})
        for name, c in shipped.categories.items()
    }
    routing = shipped.model_copy(update={"classifier": "ngram", "categories": categories})
    return router_build.build(routing)


def test_unseen_prompts_mostly_land_in_their_category(ngram: RouterParts) -> None:
    wrong = [
        (prompt, got)
        for prompt, want in UNSEEN
        if (got := ngram.classifier.classify(prompt).ranked()[0][0]) != want
    ]
    assert len(wrong) <= 2, wrong


def test_probabilities_and_keyword_hits(ngram: RouterParts) -> None:
    result = ngram.classifier.classify("How do I kill a zombie process?")
    assert sum(result.probabilities.values()) == pytest.approx(1.0)
    assert "violence" in result.keyword_hits  # "kill": a signal for the policy to weigh
    plain = ngram.classifier.classify("How do I stop a zombie process?")
    assert plain.keyword_hits == frozenset() and plain.ranked()[0][0] == "code"
    # the keyword's boost moves probability towards its category
    assert result.probabilities["violence"] > plain.probabilities["violence"]


def test_keyword_rules_are_whole_words() -> None:
    rules = KeywordRules.compile({"violence": ["kill\\w*"], "crime": ["coke"], "empty": []})
    assert rules.hits("Killing time") == {"violence"}
    assert rules.hits("skills and cokes") == frozenset()
    assert rules.hits("a COKE, then kill") == {"violence", "crime"}
    assert rules.categories == {"violence", "crime"}
    assert KeywordRules.compile({}).hits("kill") == frozenset()


def test_training_is_deterministic_and_rejects_unknown_categories() -> None:
    data = [("a", "apples and pears"), ("b", "bolts and nuts")] * 3
    rules = KeywordRules.compile({})
    one = train(data, ["a", "b"], rules, epochs=20).classify("pears")
    two = train(data, ["a", "b"], rules, epochs=20).classify("pears")
    assert one == two and one.ranked()[0][0] == "a"
    with pytest.raises(ValueError, match="not in the config"):
        train([("c", "x")], ["a"], rules)
