"""Redaction, table-driven: what must go, what must stay, and in linear time."""

from __future__ import annotations

import time

import pytest

from monitors.redaction import redact, redact_tree

POSITIVES = [
    ("mail jane.doe+x@example.co.uk now", "mail [email] now"),
    ("write to john(at)example.com please", "write to [email] please"),
    ("or john [at] example [dot] org", "or [email]"),
    ("server 192.168.10.254 is down", "server [ip] is down"),
    ("v6 2001:db8:85a3:0:0:8a2e:370:7334 here", "v6 [ip] here"),
    ("compressed 2001:db8::1 too", "compressed [ip] too"),
    ("fe80::1ff:fe23:4567:890a.", "[ip]."),
    ("card 4111 1111 1111 1111 exp", "card [card] exp"),
    ("call +1 (415) 555-0132 today", "call [phone] today"),
    ("call 020 7946 0958", "call [phone]"),
    ("Call me at 555-123-4567.", "Call me at [phone]."),
    ("London: +44 20 7946 0958.", "London: [phone]."),
    ("my SSN is 123-45-6789.", "my SSN is [ssn]."),
    ("IBAN GB82 WEST 1234 5698 7654 32 please", "IBAN [iban] please"),
    ("pay DE89370400440532013000 now", "pay [iban] now"),
    ("key sk-proj-abcdefghijklmnop1234567890 leaked", "key [key] leaked"),
    ("OPENAI_API_KEY=sk-abcdefghijklmnopqrstuvwx", "OPENAI_API_KEY=[key]"),
    ("aws AKIAIOSFODNN7EXAMPLE here", "aws [key] here"),
    ("token ghp_" + "a" * 36 + " ok", "token [key] ok"),
]
NEGATIVES = [
    "card 4111-1111-1111-1112 fails Luhn",
    "the year 2024 and 3.14159 stay",
    "version 1.2.3 stays",
    "born 1990-04-12 in Paris",
    "on 12.04.1990 we met",
    "the war of 1914 - 1918",
    "pi is 3.14159265358979",
    "std::vector<int> and a::b stay",
    "it is 12:30:45 now",
    "GB82 is not an IBAN by itself",
    "DE89370400440532013001 has a wrong check digit",
    "ask for sk-short",
    "the ratio 1:2:3 stays",
]


@pytest.mark.parametrize(("text", "want"), POSITIVES)
def test_what_goes(text: str, want: str) -> None:
    assert redact(text) == want


@pytest.mark.parametrize("text", NEGATIVES)
def test_what_stays(text: str) -> None:
    assert redact(text) == text


def test_trees_and_keys() -> None:
    tree = {"a@b.org": ["call 555-123-4567.", 3, None], "n": {"k": "10.0.0.1"}}
    assert redact_tree(tree) == {"[email]": ["call [phone].", 3, None], "n": {"k": "[ip]"}}


@pytest.mark.parametrize("text", ["a." * 100_000, "a" * 200_000, "1 " * 100_000, "a@" * 100_000])
def test_redaction_is_linear(text: str) -> None:
    """A guard, not a benchmark: quadratic patterns took minutes on 200 kB of "a."; linear
    ones take milliseconds, so a bound two orders of magnitude above that cannot flake."""
    began = time.process_time()
    redact(text)
    assert time.process_time() - began < 2.0
