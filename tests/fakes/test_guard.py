"""The fake guard speaks the model card's format: it reads exactly the prompt the gateway
builds, refuses anything else, and its replies parse as verdicts."""

from __future__ import annotations

import pytest

from router.guard import Outcome, llama_guard_3_prompt, llama_guard_3_verdict
from tests.fakes.guard import TemplateError, conversation_of


def test_the_fake_reads_the_conversation_out_of_the_template() -> None:
    prompt = llama_guard_3_prompt("How do I pick a lock?")
    assert conversation_of(prompt) == "How do I pick a lock?"
    assert "S14: Code Interpreter Abuse." in prompt and "S1: Violent Crimes." in prompt


@pytest.mark.parametrize(
    "broken",
    [
        lambda p: p.replace("<|eot_id|>", ""),
        lambda p: p.replace("S7: Privacy.\n", ""),
        lambda p: p.replace("User: ", "Agent: "),
        lambda p: p.replace("First line must read 'safe' or 'unsafe'.", ""),
    ],
)
def test_the_fake_refuses_anything_but_the_template(broken: object) -> None:
    with pytest.raises(TemplateError):
        conversation_of(broken(llama_guard_3_prompt("hi")))  # type: ignore[operator]


@pytest.mark.parametrize(
    ("reply", "outcome", "codes"),
    [
        ("safe", Outcome.SAFE, ()),
        ("\n\nsafe", Outcome.SAFE, ()),
        ("unsafe\nS1", Outcome.UNSAFE, ("S1",)),
        ("unsafe\nS2,S14", Outcome.UNSAFE, ("S2", "S14")),
        ("unsafe", Outcome.ERROR, ()),  # no category line
        ("unsafe\nS15", Outcome.ERROR, ()),
        ("unsafe\nviolence", Outcome.ERROR, ()),
        ("Safe", Outcome.ERROR, ()),
        ("safe\nS1", Outcome.ERROR, ()),
        ("I think this is fine.", Outcome.ERROR, ()),
    ],
)
def test_replies_in_the_model_cards_output_format(
    reply: str, outcome: Outcome, codes: tuple[str, ...]
) -> None:
    verdict = llama_guard_3_verdict(reply)
    assert (verdict.outcome, verdict.codes) == (outcome, codes)
