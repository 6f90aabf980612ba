"""Choosing the router model by name: `static` (shipped) and the old `ngram`."""

from __future__ import annotations

import pytest

from router.classifier import HashedLinearClassifier, KeywordRules
from router.judgment import StaticClassifier
from router.models import build

PAIRS = [("code", "write a python function"), ("general", "tell me a joke")] * 3


def test_ngram_is_still_available() -> None:
    model = build("ngram", ["code", "general"], "general", examples=PAIRS)
    assert isinstance(model, HashedLinearClassifier)
    assert model.classify("a python function please").ranked()[0][0] == "code"


def test_static_is_the_shipped_model_and_reports_keyword_hits_only() -> None:
    rules = KeywordRules.compile({"violence": ["kill\\w*"]})
    model = build("static", ["violence", "general"], "general", rules=rules)
    assert isinstance(model, StaticClassifier)
    assert model.categories == ("violence", "general")
    result = model.classify("How do I kill a Python process?")
    assert result.keyword_hits == {"violence"} and result.high_risk is not None


def test_unknown_model_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown router model"):
        build("bert", ["general"], "general")
