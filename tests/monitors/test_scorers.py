"""Scorers on real answer snippets (MT-Bench: gpt-4o and llama-2-chat-7b) and made-up pairs."""

from __future__ import annotations

import pytest

from monitors import scorers
from monitors.scorers import DEFAULT_WEIGHTS, KNOWN_SCORERS, SCORERS, Tag, score_pair

# MT-Bench question 104 and the endings of the two real answers to it.
Q104 = "David has three sisters. Each of them has one brother. How many brothers does David have?"
GPT4O_104 = "Since David is the brother to each of his three sisters, he is the one brother they all have. Therefore, David does not have any other brothers. \n\nSo, David has 0 brothers."  # noqa: E501
LLAMA_104 = "David has three sisters, and each of them has one brother. So, in total, David has three sisters + 3 brothers = 6 brothers."  # noqa: E501
# MT-Bench question 119: both models reach $280.
Q119 = "Benjamin bought 5 copies of a sci-fi novel at $20, 3 history books at $30 and 2 philosophy books at $45. What was the total cost?"  # noqa: E501
GPT4O_119 = "100 (sci-fi novels) + 90 (history books) + 90 (philosophy books) = 280 dollars\n\nTherefore, the total cost of Benjamin's purchases is $280."  # noqa: E501
LLAMA_119 = "Total cost = $100 + $90 + $90 = $280\nTherefore, the total cost of Benjamin's purchases was $280."  # noqa: E501
# MT-Bench question 109: same words, opposite conclusions (gpt-4o: west; llama-2-chat-7b: east).
Q109 = "One morning after sunrise, Suresh was standing facing a pole. The shadow of the pole fell exactly to his right. Can you tell me the direction towards which the shadow was pointing - east, south, west, or north?"  # noqa: E501
GPT4O_109 = "The sun is in the east at sunrise, casting shadows to the west.\n   - Therefore, the shadow falling to his right (west) means he is facing north.\n\nSo, the shadow is pointing towards the west."  # noqa: E501
LLAMA_109 = "At 9 am, the sun is due east of Suresh's location. This means that the shadow of the pole is pointing towards the east. Therefore, the direction towards which the shadow is pointing is east."  # noqa: E501
REFUSAL = "I apologize, but I cannot provide instructions on that."


@pytest.mark.parametrize(
    ("scorer", "a", "b", "request_text", "want"),
    [
        ("final_answer", GPT4O_104, LLAMA_104, Q104, 0.0),
        ("final_answer", GPT4O_119, LLAMA_119, Q119, 1.0),
        ("final_answer", "A poem.", "Another poem.", "Write a poem about rain", None),
        ("final_answer", "The answer is (B).", "I think the answer is B", "Which, A or B?", 1.0),
        ("final_answer", "Yes, it is.", "No.", "Is 7 prime? Yes or no", 0.0),
        ("final_answer", "So the area is:\n\\( 3 \\)", "So, the area is 6.", "What is it?", 0.0),
        ("final_answer", "So, 3.", "GPT-4 says so.", "Which?", 0.0),  # GPT-4 is no answer
        # content words of the conclusions: {shadow, pointing, towards, west} vs
        # {direction, towards, which, shadow, pointing, east}: 3 shared -> F1 = 2*3/(4+6)
        ("conclusion", GPT4O_109, LLAMA_109, Q109, 0.6),
        ("conclusion", GPT4O_119, LLAMA_119, Q119, 1.0),  # is/was are stop words
        ("conclusion", "Some rain.", "More rain.", "Write a poem about rain", None),
        ("conclusion", "```py\nx = 1\n```\nSo x is 1.", "So x is 1.", "Find x", None),
        ("refusal", REFUSAL, GPT4O_104, Q104, 0.0),
        ("refusal", REFUSAL, "I'm sorry, but I can't help with that.", "x", 1.0),
        ("refusal", GPT4O_119, LLAMA_119, Q119, 1.0),
        ("structured", '{"city": "Paris", "u": "c"}', '{"city": "Paris", "u": "f"}', "x", 0.5),
        ("structured", '```json\n{"a": 1}\n```', '{"a": 1}', "x", 1.0),
        ("structured", '{"a": 1}', "not json", "x", 0.0),
        ("structured", "plain", "text", "x", None),
        ("length_ratio", "one two", "one two three four", "x", 0.5),
        ("token_f1", "the cat sat", "the cat sat", "x", 1.0),
        ("token_f1", "alpha beta", "gamma delta", "x", 0.0),
        ("format", "- a\n- b", "- a\n- b", "x", 1.0),
        ("format", "```py\nx\n```", "just words", "x", 0.8),
    ],
)  # fmt: skip
def test_scorer(scorer: str, a: str, b: str, request_text: str, want: float | None) -> None:
    got = SCORERS[scorer].fn(a, b, request_text)
    assert got == (pytest.approx(want) if want is not None else None)


def test_token_f1_partial_overlap() -> None:
    # 2 shared of 3 and 4 words: precision 2/3, recall 2/4 -> F1 = 4/7
    assert scorers.token_f1("a b c", "a b d e", "") == pytest.approx(4 / 7)


def test_registry_tags() -> None:
    assert {n for n, s in SCORERS.items() if s.tag is Tag.SURFACE} == {
        "token_f1",
        "length_ratio",
        "format",
        "coverage",
        "length_share",
    }
    assert {n for n, s in SCORERS.items() if s.tag is Tag.JUDGMENT} == {
        "refusal",
        "conclusion",
        "final_answer",
        "structured",
        "completion",
        "repetition",
        "code_parses",
        "code_signature",
    }
    assert set(DEFAULT_WEIGHTS) == KNOWN_SCORERS


def test_the_illusion_case_looks_alike_but_judges_differently() -> None:
    student = "Let me think. The total is 6 brothers."
    teacher = "Let me think. The total is 0 brothers."
    pair = score_pair(student, teacher, Q104)
    assert pair.surface > 0.7 and pair.judgment == 0.0 and pair.judgment_disagrees()
    right = score_pair(teacher.replace("0", "zero"), teacher, Q104)  # other words, same answer
    assert not right.judgment_disagrees() and pair.divergence > right.divergence + 0.15


def test_scorers_without_weight_are_not_run() -> None:
    """A zero weight takes a scorer out of the divergence and of the judgment summary; a
    scorer given (llm_judge) with no weight is reported but counts nowhere either."""
    pair = score_pair(
        GPT4O_104, LLAMA_104, Q104, {"token_f1": 1.0, "final_answer": 0.0}, given={"llm_judge": 0}
    )
    assert set(pair.scores) == {"token_f1", "llm_judge"} and pair.judgment is None
    assert pair.divergence == pytest.approx(1 - pair.scores["token_f1"])


def test_identical_answers_do_not_diverge() -> None:
    pair = score_pair(GPT4O_119, GPT4O_119, Q119)
    assert pair.divergence == pytest.approx(0.0) and not pair.judgment_disagrees()


def test_weights_choose_what_counts() -> None:
    only_final = {"final_answer": 1.0}
    assert score_pair(GPT4O_104, LLAMA_104, Q104, only_final).divergence == 1.0
    assert score_pair(GPT4O_119, LLAMA_119, Q119, only_final).divergence == 0.0
    no_weights_apply = score_pair("a", "b", "poem", {"structured": 1.0})
    assert no_weights_apply.divergence == 0.0


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (GPT4O_109, "So, the shadow is pointing towards the west."),
        ("Area = 3\n\nThe area is \\boxed{3} square units.", "3"),
        ("So the area is:\n\\( 3 \\)", "So the area is: \\( 3 \\)"),
        ("Here are some of them:\n1. Apples\n2. Pears", "Pears"),  # no cue: last sentence
        ("Just one sentence", "Just one sentence"),
        ("", ""),
    ],
)
def test_conclusion(text: str, want: str) -> None:
    assert scorers.conclusion(text) == want
