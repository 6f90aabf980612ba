"""BERT uncased WordPiece tokenisation in pure Python, as the `tokenizers` BertNormalizer,
BertPreTokenizer and WordPiece model do it for all-MiniLM-L6-v2 (no special tokens added).

Normalisation: drop NUL, U+FFFD and "other" characters (categories Cc, Cf, Cn, Co, Cs, but
not tab, newline, carriage return), turn whitespace into spaces, put spaces around CJK
ideographs, strip accents (NFD, drop Mn), lowercase. Pre-tokenisation: split on whitespace,
and isolate every ASCII punctuation character and every Unicode punctuation character
(categories P*). WordPiece: greedy longest-match-first with the "##" continuation prefix;
a word with no match, or longer than 100 characters, is one [UNK]. Words are cached.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

MAX_WORD_CHARS = 100
_ASCII_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_ASCII_WORD = re.compile(
    r"[^\s" + re.escape(_ASCII_PUNCT) + r"]+|[" + re.escape(_ASCII_PUNCT) + "]"
)
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CJK = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)  # fmt: skip
_WHITESPACE = frozenset("\t\n\r \u2028\u2029")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _is_cjk(c: str) -> bool:
    o = ord(c)
    return any(lo <= o <= hi for lo, hi in _CJK)


def _is_punct(c: str) -> bool:
    return c in _ASCII_PUNCT or unicodedata.category(c).startswith("P")


def _is_space(c: str) -> bool:
    return c in _WHITESPACE or unicodedata.category(c) == "Zs"


def _clean(match: re.Match[str]) -> str:
    """One non-ASCII character: dropped, a space, padded (CJK) or kept."""
    c = match.group()
    category = unicodedata.category(c)
    if c == "\ufffd" or (category[0] == "C" and c not in "\t\n\r"):
        return ""
    if category == "Zs" or c in _WHITESPACE:
        return " "
    return f" {c} " if _is_cjk(c) else c


def _unmarked(match: re.Match[str]) -> str:
    c = match.group()
    return "" if unicodedata.category(c) == "Mn" else c


def normalise(text: str) -> str:
    """BertNormalizer(clean_text, handle_chinese_chars, strip_accents, lowercase)."""
    text = _ASCII_CONTROL.sub("", text)
    if text.isascii():
        return text.lower()
    cleaned = _NON_ASCII.sub(_clean, text)
    return _NON_ASCII.sub(_unmarked, unicodedata.normalize("NFD", cleaned)).lower()


def split_words(normalised: str) -> list[str]:
    """BertPreTokenizer: whitespace removed, each punctuation character its own word."""
    if normalised.isascii():
        return _ASCII_WORD.findall(normalised)
    words: list[str] = []
    for chunk in normalised.split():
        if chunk.isascii():
            words.extend(_ASCII_WORD.findall(chunk))
            continue
        current: list[str] = []
        for c in chunk:
            if _is_space(c) or _is_punct(c):
                if current:
                    words.append("".join(current))
                    current = []
                if not _is_space(c):
                    words.append(c)
            else:
                current.append(c)
        if current:
            words.append("".join(current))
    return words


@dataclass(frozen=True, slots=True)
class Word:
    """A pre-tokenised word and its vocabulary ids."""

    text: str
    ids: tuple[int, ...]


class WordPiece:
    """Text -> vocabulary ids; `max_cache` words are remembered, then the cache restarts."""

    def __init__(self, vocab: Sequence[str], max_cache: int = 1 << 16) -> None:
        self.vocab = tuple(vocab)
        self.index = {token: i for i, token in enumerate(self.vocab)}
        self.unk = self.index["[UNK]"]
        self._cache: dict[str, tuple[int, ...]] = {}
        self._max_cache = max_cache
        self.cached = self._cache.get  # word -> ids if already seen, else None

    def split(self, text: str) -> list[str]:
        return split_words(normalise(text))

    def words(self, text: str) -> list[Word]:
        return [Word(w, self.pieces(w)) for w in split_words(normalise(text))]

    def encode(self, text: str) -> list[int]:
        return [i for w in split_words(normalise(text)) for i in self.pieces(w)]

    def pieces(self, word: str) -> tuple[int, ...]:
        hit = self._cache.get(word)
        if hit is None:
            if len(self._cache) >= self._max_cache:
                self._cache.clear()
            hit = self._cache[word] = self._longest_first(word)
        return hit

    def _longest_first(self, word: str) -> tuple[int, ...]:
        if len(word) > MAX_WORD_CHARS:
            return (self.unk,)
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = self.index.get(piece)
                if found is not None:
                    ids.append(found)
                    break
                end -= 1
            if end == start:
                return (self.unk,)
            start = end
        return tuple(ids)
