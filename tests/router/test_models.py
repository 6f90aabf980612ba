"""Choosing the router model by name: `static` (shipped) and the old `ngram`."""

from __future__ import annotations

import pytest

from router.category_map import MappedClassifier
from router.classifier import HashedLinearClassifier, KeywordRules
from router.judgment import StaticClassifier
from router.models import build

PAIRS = [("code", "write a python function"), ("general", "tell me a joke")] * 3


def test_ngram_is_still_available() -> None:
    model = build("ngram", ["code", "general"], "general", examples=PAIRS)
    assert isinstance(model, HashedLinearClassifier)
    assert model.classify("a python function please").ranked()[0][0] == "code"


def test_static_maps_the_shipped_classes_onto_the_configured_ones() -> None:
    rules = KeywordRules.compile({"violence": ["kill\\w*"]})
    model = build("static", ["violence", "general"], "general", rules=rules)
    assert isinstance(model, MappedClassifier) and isinstance(model.model, StaticClassifier)
    assert model.categories == ("violence", "general")
    plain = build("static", ["violence", "general"], "general", keyword_boost=0.0)
    text = "How do I kill a Python process?"
    result, unboosted = model.classify(text), plain.classify(text)
    assert result.keyword_hits == {"violence"} and result.high_risk == unboosted.high_risk
    assert set(result.probabilities) == {"violence", "general"}  # the rest went to general
    assert sum(result.probabilities.values()) == pytest.approx(1.0)
    # the keyword raised its category, as keyword_boost does for the ngram model
    assert result.probabilities["violence"] > unboosted.probabilities["violence"]


def test_unknown_model_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown router model"):
        build("bert", ["general"], "general")
