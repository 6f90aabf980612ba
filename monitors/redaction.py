"""Personal data and secrets out of text before it is written anywhere: emails, phone and
card numbers, IBANs, US social security numbers, IP addresses and API keys.

Every pattern is bounded (no unbounded repetition next to another), so redaction is
linear in the text: `"a." * 50_000` takes milliseconds, not minutes. Candidates that a
pattern alone cannot tell apart are checked: card numbers by Luhn, IBANs by their mod-97
check digits, IPv6 addresses by parsing, and phone-shaped numbers that are really dates,
year ranges or decimals are left alone.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

_API_KEY = re.compile(
    r"\b(?:sk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_-]{16,256}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{36,255}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,256}"
    r"|AIza[0-9A-Za-z_-]{35})(?![\w-])"
)
_AT = r"(?:@|\s?[(\[]\s?at\s?[)\]]\s?)"
_DOT = r"(?:\.|\s?[(\[]\s?dot\s?[)\]]\s?)"
_EMAIL = re.compile(
    rf"(?<![\w.+-])[\w.+-]{{1,64}}{_AT}[A-Za-z0-9-]{{1,63}}(?:{_DOT}[A-Za-z0-9-]{{1,63}}){{1,8}}",
    re.IGNORECASE,
)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
_CARD = re.compile(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-])")
_SSN = re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1?\d?\d)"
_IPV4 = re.compile(rf"(?<![\w.])(?:{_OCTET}\.){{3}}{_OCTET}(?!\w|\.\d)")
_PHONE = re.compile(r"(?<![\w.+])\+?\(?\d{1,4}\)?(?:[ .-]?\(?\d{2,4}\)?){2,5}(?!\w|\.\d)")
_NOT_A_PHONE = re.compile(
    r"(?:19|20)\d\d-\d\d-\d\d"  # an ISO date
    r"|\d\d?\.\d\d?\.(?:19|20)\d\d"  # a European date
    r"|(?:19|20)\d\d ?- ?(?:19|20)\d\d"  # a year range
    r"|\d+\.\d+"  # a decimal
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[card]" if 13 <= len(digits) <= 19 and _luhn(digits) else match.group(0)


def _iban(match: re.Match[str]) -> str:
    code = match.group(0).replace(" ", "")
    rotated = code[4:] + code[:4]
    number = "".join(str(int(ch, 36)) for ch in rotated)
    return "[iban]" if 15 <= len(code) <= 34 and int(number) % 97 == 1 else match.group(0)


def _ipv6(match: re.Match[str]) -> str:
    text = match.group(0)
    if sum(ch not in ":" for ch in text) < 4:  # `a::b`, `::1`: C++ scopes, loopback
        return text
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return text
    return "[ip]"


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = re.sub(r"\D", "", text)
    if not 7 <= len(digits) <= 15 or _NOT_A_PHONE.fullmatch(text.strip("()+ ")):
        return text
    return "[phone]"


_STEPS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (_API_KEY, "[key]"),
    (_EMAIL, "[email]"),
    (_IBAN, _iban),
    (_CARD, _card),
    (_SSN, "[ssn]"),
    (_IPV6, _ipv6),
    (_IPV4, "[ip]"),
    (_PHONE, _phone),
)


def redact(text: str) -> str:
    for pattern, replacement in _STEPS:
        text = pattern.sub(replacement, text)
    return text


def redact_tree(value: Any) -> Any:
    """Every string in a JSON-like tree redacted (keys too: a dict key can be free text)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_tree(v) for v in value]
    if isinstance(value, dict):
        return {redact_tree(k): redact_tree(v) for k, v in value.items()}
    return value
