"""The MiniLM scorer: numpy forward pass against sentence-transformers, and its wiring."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gateway.config import settings as settings_module
from gateway.config.load import ConfigError, parse
from gateway.fake_vllm.script import Behavior
from monitors import semantic
from monitors.scorers import Tag, score_pair
from tests.fakes.paths import TEST_DATA
from tests.fakes.stack import StackFactory, gateway_yaml

REFERENCE = TEST_DATA / "minilm" / "reference_embeddings.json"


@pytest.fixture(scope="module")
def model() -> semantic.MiniLM:
    return semantic.load()


def test_embeddings_match_sentence_transformers(model: semantic.MiniLM) -> None:
    reference = json.loads(REFERENCE.read_text())
    assert len(reference["sentences"]) == 6  # incl. non-ASCII and one past 256 tokens
    for sentence, want in zip(reference["sentences"], reference["embeddings"], strict=True):
        got = model.embed(sentence)
        assert got.shape == (384,)
        np.testing.assert_allclose(got, np.asarray(want, dtype=np.float32), atol=2e-6)


def test_similar_answers_score_higher_than_unrelated_ones(model: semantic.MiniLM) -> None:
    west = "So, the shadow is pointing towards the west."
    close = semantic.similarity(model, west, "The shadow points west.", "")
    far = semantic.similarity(model, west, "Paris is the capital of France.", "")
    assert close is not None and far is not None
    assert 0.0 <= far < 0.3 < 0.8 < close <= 1.0
    assert semantic.similarity(model, west, west, "") == pytest.approx(1.0, abs=1e-5)


def test_batched_embeddings_equal_one_at_a_time(model: semantic.MiniLM) -> None:
    """embed_many runs texts end to end with attention kept inside each text."""
    reference = json.loads(REFERENCE.read_text())
    batched = model.embed_many(reference["sentences"])
    np.testing.assert_allclose(batched, np.asarray(reference["embeddings"]), atol=2e-6)
    assert model.embed_many([]).shape == (0, 384)


def test_alignment_is_how_much_of_the_teacher_the_student_covers(
    model: semantic.MiniLM,
) -> None:
    teacher = "The sun rises in the east. So the shadow points west. Suresh faces north."
    covered = "Suresh is facing north. At sunrise the sun is in the east; the shadow falls west."
    partly = "The shadow points west."
    off = "Photosynthesis happens in the chloroplasts of plant cells."
    got = [semantic.alignment(model, s, teacher, "") or -1.0 for s in (covered, partly, off)]
    assert got[0] > got[1] > got[2] >= 0.0
    assert semantic.alignment(model, partly, partly, "") == pytest.approx(1.0, abs=1e-5)
    assert semantic.alignment(model, "", teacher, "") == 0.0
    assert semantic.alignment(model, partly, "", "") is None


def test_the_scorer_is_a_surface_scorer_in_score_pair(model: semantic.MiniLM) -> None:
    scorer = semantic.semantic_scorer(model)
    assert scorer.tag is Tag.SURFACE
    pair = score_pair("The cat sat.", "A cat was sitting.", "x", scorers={"semantic": scorer})
    assert set(pair.scores) == {"semantic"} and pair.judgment is None
    assert pair.surface == pytest.approx(pair.scores["semantic"])


def test_config_says_how_to_install_it_when_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    text = gateway_yaml("http://s:1", "http://t:1") + "monitor: {semantic: true}\n"
    assert parse(text.encode(), {}, "<t>").settings.monitor.semantic
    monkeypatch.setattr(settings_module, "installed", lambda: False)
    with pytest.raises(ConfigError) as err:
        parse(text.encode(), {}, "<t>")
    assert "monitor.semantic" in str(err.value) and "distillgate[semantic]" in str(err.value)


def test_the_gateway_scores_shadowed_pairs_with_it(make_stack: StackFactory) -> None:
    extra = "shadow: {enabled: true, max_teacher_rps: 1000, noise_floor_rate: 0}\n"
    extra += "monitor: {semantic: true}\n"
    extra += "routing: {replace_defaults: true,\n"
    extra += "          categories: {general: {risk: low, route: student, shadow_rate: 1.0}}}\n"
    stack = make_stack(extra_yaml=extra)
    stack.student_script.default = Behavior(answer="The shadow points west.")
    stack.teacher_script.default = Behavior(answer="So, the shadow is pointing towards the west.")
    client = stack.client()
    client.chat.completions.create(
        model="assistant", messages=[{"role": "user", "content": "Where does the shadow point?"}]
    )
    assert stack.wait_for(
        lambda: (
            stack.metric(
                "distillgate_divergence_count",
                model="assistant",
                category="general",
                scorer="semantic",
            )
            == 1
        )
    )
    divergence = stack.metric(
        "distillgate_divergence_sum", model="assistant", category="general", scorer="semantic"
    )
    assert 0.0 <= divergence < 0.2  # 1 - cosine of two near paraphrases
