"""The scorers added for the gap's validity, on excerpts of real MT-Bench answers.

Students: models graded by GPT-4 (bench/data/mt_bench_judged); teacher: claude-3-5-sonnet.
Only questions of the design split (question_id % 5 != 0) are quoted here.
"""

from __future__ import annotations

import pytest

from monitors import code_check, completeness, coverage, scorers
from monitors.scorers import SCORERS

# Question 118, turn 1 (remainder of 2n / 4): Griffin loops until it is cut off (grade 1).
Q118 = "When a number is divided by 10, the remainder is 4. What is the remainder when twice the number is divided by 4?"  # noqa: E501
TEACHER_118 = "So, 2n = 20k + 8\n\nTherefore, when twice the original number (2n) is divided by 4, the remainder is 0."  # noqa: E501
GRIFFIN_118 = "The remainder when twice the number is divided by 4 is 2. The remainder when twice the number is divided by 4 is 2. The remainder when"  # noqa: E501
LLAMA_118 = "So, the remainder is 4."
# Question 123, turn 2 (CSS to make the jokes red): Griffin repeats its block (grade 1).
TEACHER_123 = "Certainly! To change the color of the jokes to red using CSS, you can target the element where the jokes are displayed and set its color property. Here's how you can modify the existing code to achieve this:\n\n1. First, let's add a class to the paragraph element where the jokes are displayed."  # noqa: E501
GRIFFIN_123 = "To change the color of the jokes to red, you can add the following CSS code to the HTML file:\n```\n<style>\n .jokes {\n    color: red;\n  }\n</style>\n```\nTo apply the color to the jokes, you can add the following CSS code to the HTML file:\n```\n<style>\n .jokes {\n    color: red;\n  }\n .jokes p {\n    color: red;\n  }\n</style>\n```\nTo change the color of the jokes to red, you can add the following CSS code to the HTML file:\n```\n<style>\n .jokes {\n    color: red;\n  }\n .jokes p {\n    color: red;\n  }\n .jokes li {\n    color: red;\n  }\n</style>\n```\nTo change the color of the jokes to red, you can add the following CSS code to the HTML file:\n```\n<style>\n .jokes {\n    color: red;\n  }\n .jokes p {\n    color: red;\n"  # noqa: E501
# Question 128, turn 1 (count full binary trees): both answer with a Python function.
Q128 = "A binary tree is full if all of its vertices have either zero or two children. Let B_n denote the number of full binary trees with n vertices. Implement a function to find B_n."  # noqa: E501
TEACHER_128 = "Here's a Python implementation of a function to calculate B_n:\n\n```python\ndef count_full_binary_trees(n):\n    # Base cases\n    if n == 0 or n == 1:\n        return 1\n    if n % 2 == 0:\n        return 0  # Full binary trees must have an odd number of vertices\n\n    # Initialize memoization array\n    dp = [0] * (n + 1)\n    dp[0] = dp[1] = 1\n\n    # Calculate B_n using dynamic programming\n    for i in range(3, n + 1, 2):\n        for j in range(1, i, 2):\n            dp[i] += dp[j - 1] * dp[i - j - 1]\n\n    return dp[n]\n```\n"  # noqa: E501
DOLPHIN_128 = "Here's a Python implementation of the function:\n\n```python\ndef full_binary_trees(n):\n    if n == 0:\n        return 1\n    elif n == 1:\n        return 0\n    else:\n        return full_binary_trees(n-1) + full_binary_trees(n-2)\n```\n\nThis function takes an integer `n` as input and returns the number of full binary trees with `n` vertices."  # noqa: E501
# Question 127, turn 2: claude-3-opus's code block is cut off mid-statement.
OPUS_127 = "Here's the implementation:\n\n```python\ndef find_top_k_elements(nums, k):\n    candidates = {}\n    counts = {}\n\n    for num in nums:\n        if num in candidates:\n            counts[num] += 1\n\n    result = []\n    for candidate"  # noqa: E501
# Question 117, turn 2: the last number of both conclusions is the 5 of the request.
Q117 = (
    "How many integers are in the solution of the inequality |x + 5| < 10\nWhat about |x + 10| < 5"
)
TEACHER_117 = "-14, -13, -12, -11, -10, -9, -8, -7, -6\n\nTherefore, there are 9 integers in the solution of the inequality |x + 10| < 5."  # noqa: E501
PHI3_117 = "The integers that satisfy this inequality are -14, -15, ..., -6. There are a total of 6 integers in the solution of the inequality |x + 10| < 5."  # noqa: E501
# Question 104, turn 2: the same answer in words and in digits.
Q104 = "If we change the previous question and assume that each sister of David has two brothers, how many brothers would David have?"  # noqa: E501
TEACHER_104 = "Therefore, in this new scenario, David would have 1 brother."
LLAMA_104 = "If we assume that each of David's sisters has two brothers, then David would have a total of 6 brothers."  # noqa: E501
WORDS_104 = "So, in this scenario, David would have one brother."


@pytest.mark.parametrize(
    ("scorer", "student", "teacher", "request_text", "want"),
    [
        # completion: cut off (or empty) where the teacher finished
        ("completion", GRIFFIN_118, TEACHER_118, Q118, 0.0),
        ("completion", LLAMA_118, TEACHER_118, Q118, 1.0),
        ("completion", "", TEACHER_118, Q118, 0.0),
        ("completion", "", "", Q118, 1.0),
        ("completion", GRIFFIN_118, GRIFFIN_118, Q118, 1.0),  # both cut off: no difference
        ("completion", OPUS_127, TEACHER_128, Q128, 0.0),  # code fence left open
        ("completion", DOLPHIN_128, TEACHER_128, Q128, 1.0),
        # repetition: "a b c" x3 has 3 distinct 3-grams of 7; the teacher repeats none
        ("repetition", "a b c a b c a b c", "one two three four five", "x", 3 / 7),
        ("repetition", TEACHER_123, TEACHER_123, "x", 1.0),
        ("repetition", TEACHER_123, GRIFFIN_123, "x", 1.0),  # the teacher repeating more is fine
        # code_parses: the student's Python parses (not: is it right)
        ("code_parses", DOLPHIN_128, TEACHER_128, Q128, 1.0),
        ("code_parses", OPUS_127, TEACHER_128, Q128, 0.0),
        ("code_parses", "B_n is the Catalan number C_((n-1)/2).", TEACHER_128, Q128, 0.0),
        ("code_parses", DOLPHIN_128, LLAMA_118, Q128, None),  # no teacher code: n/a
        ("code_parses", DOLPHIN_128 + "\n```\nOutput: 42\n```", TEACHER_128, Q128, 1.0),
        # code_signature: the teacher's function kept (any name, same parameter count) ...
        ("code_signature", DOLPHIN_128, TEACHER_128, Q128, 1.0),
        ("code_signature", DOLPHIN_128.replace("(n)", "(n, memo)", 1), TEACHER_128, Q128, 0.0),
        # ... or, when the request names it, under that name
        ("code_signature", DOLPHIN_128, TEACHER_128, "Implement count_full_binary_trees(n)", 0.0),
        ("code_signature", DOLPHIN_128, LLAMA_118, Q128, None),
        # final_answer: numbers the request gives are no answer; number words count
        ("final_answer", PHI3_117, TEACHER_117, Q117, 0.0),
        ("final_answer", TEACHER_117, TEACHER_117, Q117, 1.0),
        ("final_answer", LLAMA_104, TEACHER_104, Q104, 0.0),
        ("final_answer", WORDS_104, TEACHER_104, Q104, 1.0),
        ("final_answer", DOLPHIN_128, TEACHER_128, Q128, None),  # code: n/a
        # coverage: teacher's content words not in the request {sun, rises, east, points,
        # west}; the student has points and west
        (
            "coverage",
            "The shadow points west.",
            "The sun rises in the east, so the shadow points west.",
            "Which direction does the shadow point?",
            0.4,
        ),
        ("coverage", "anything", "Which direction?", "Which direction?", None),
        ("length_share", "one two", "one two three four", "x", 0.5),
        ("length_share", "one two three four", "one two", "x", 1.0),
        ("length_share", "one", "", "x", None),
    ],
)
def test_scorer_on_real_excerpts(
    scorer: str, student: str, teacher: str, request_text: str, want: float | None
) -> None:
    got = SCORERS[scorer].fn(student, teacher, request_text)
    assert got == (pytest.approx(want) if want is not None else None)


def test_a_loop_scores_low() -> None:
    got = completeness.repetition_agreement(GRIFFIN_123, TEACHER_123, "")
    assert got is not None and got < 0.5
    assert completeness.distinct_ngrams(TEACHER_123) > 0.9  # "the jokes are displayed" twice


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("1,000 and 3/4 and two", ["1000.0", "0.75", "2.0"]),
        ("GPT-4 says -5", ["-5.0"]),  # not the 4 of GPT-4
        ("x = 0.9722 or 97.22%", ["0.9722", "97.22"]),
        ("none here", []),
    ],
)
def test_numbers(text: str, want: list[str]) -> None:
    assert scorers.numbers(text) == want


def test_sentences_drop_markers_and_fragments() -> None:
    text = (
        "## Plan\n\n1. Fly to Oahu. Visit Pearl Harbor!\n- Hike Diamond Head\nOk\n```py\nx = 1\n```"
    )
    assert coverage.sentences(text) == [
        "Fly to Oahu.",
        "Visit Pearl Harbor!",
        "Hike Diamond Head",
        "x = 1",
    ]
    assert len(coverage.sentences("A b. " * 100)) == coverage.MAX_SENTENCES


def test_code_blocks_read_languages() -> None:
    found = code_check.blocks("```js\nlet a = 1;\n```\n```\nimport os\n```\n```\nplain\n```")
    assert [b.language for b in found] == ["js", "python", ""]
    assert code_check.signatures(TEACHER_128) == {"count_full_binary_trees": 1}
