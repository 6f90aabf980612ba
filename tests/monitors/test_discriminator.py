"""The online discriminator: tells distinct styles apart, and cannot tell identical ones."""

from __future__ import annotations

import random

from monitors.discriminator import Discriminator

TOPICS = ["rivers", "bread", "stars", "trains", "music", "forests", "cities", "bees"]


def teacher_style(topic: str, rng: random.Random) -> str:
    points = "\n".join(f"- **Point {i}**: {topic} matter for reason {rng.randint(1, 99)}."
                       for i in range(3))  # fmt: skip
    return f"## About {topic}\n\n{points}\n\nIn summary, {topic} are worth studying."


def student_style(topic: str, rng: random.Random) -> str:
    return (
        f"Sure! {topic} are nice. I think {topic} are good because of {rng.randint(1, 99)} things."
    )


def test_learns_to_tell_a_different_style_apart() -> None:
    rng = random.Random(0)
    d = Discriminator()
    results = [d.observe(teacher_style(t, rng), student_style(t, rng)) for t in TOPICS * 10]
    late = results[20:]
    assert sum(late) / len(late) > 0.9


def test_cannot_tell_identical_answers_apart() -> None:
    rng = random.Random(1)
    d = Discriminator()
    results = []
    for t in TOPICS * 10:
        same = teacher_style(t, rng)
        results.append(d.observe(same, same))
    assert sum(results) == 0  # a tie is never a correct call: advantage -1..0, never > 0
