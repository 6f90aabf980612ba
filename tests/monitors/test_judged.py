"""The judged-pairs format that `calibrate-gap` reads, and calibrating weights from it."""

from __future__ import annotations

import json

import pytest

from monitors.judged import JudgedPair, calibrate, parse_judged
from monitors.scorers import SCORERS


def test_rows_parse_with_defaults() -> None:
    lines = [
        json.dumps({"request": "2+2?", "student": "5", "teacher": "4", "grade": 2}),
        "",
        json.dumps(
            {
                "request": "r",
                "student": "s",
                "teacher": "t",
                "grade": 7.5,
                "group": 81,
                "category": "math",
            }
        ),
    ]
    assert parse_judged(lines) == [
        JudgedPair("2+2?", "5", "4", 2.0, group="2+2?"),  # group: the request by default
        JudgedPair("r", "s", "t", 7.5, group="81", category="math"),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{", "line 2: Expecting"),
        ('["a"]', "line 2: a row must be a JSON object"),
        ('{"request": "r", "student": 1, "teacher": "t", "grade": 1}', "'student' must be"),
        ('{"request": "r", "student": "s", "teacher": "t"}', "'grade' must be a finite"),
        ('{"request": "r", "student": "s", "teacher": "t", "grade": true}', "'grade'"),
        ('{"request": "r", "student": "s", "teacher": "t", "grade": NaN}', "'grade'"),
        ('{"request": "r", "student": "s", "teacher": "t", "grade": 1, "group": []}', "'group'"),
        ('{"request": "r", "student": "s", "teacher": "t", "grade": 1, "category": 3}', "'cat"),
    ],
)
def test_bad_rows_name_their_line(line: str, message: str) -> None:
    good = '{"request": "r", "student": "s", "teacher": "t", "grade": 1}'
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        parse_judged([good, line])


def test_calibrate_fits_the_scorers_on_judged_pairs() -> None:
    """Wrong final answers graded low, right ones high: final_answer gets the largest weight."""
    pairs = []
    for q in range(24):
        request = f"How many apples are left if you have {q + 10} and eat 3?"
        right = f"You eat 3, so {q + 7} apples are left."
        wrong = f"You eat 3, so {q + 8} apples are left."
        pairs += [
            JudgedPair(request, right, right, 9.0, group=str(q)),
            JudgedPair(request, wrong, right, 2.0, group=str(q)),
            JudgedPair(request, "Apples are left: " + right, right, 8.0, group=str(q)),
        ]
    fit = calibrate(pairs, SCORERS, folds=4)
    assert fit.weights["final_answer"] == 1.0
    assert fit.cv_spearman > 0.8 and fit.groups == 24 and set(fit.weights) == set(SCORERS)
