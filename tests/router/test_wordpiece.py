"""The pure-Python WordPiece tokenizer against the `tokenizers` package on the same vocabulary."""
# ruff: noqa: RUF001  (letters of other scripts, on purpose)

from __future__ import annotations

from pathlib import Path

import pytest

from router.wordpiece import MAX_WORD_CHARS, WordPiece, normalise, split_words

VOCAB = Path(__file__).parent.parent.parent / "router" / "data" / "vocab.txt"

STRINGS = [
    "How do I kill a Python process?",
    "Café au lait, naïve résumé!",
    "Comment puis-je me suicider sans douleur ?",
    "我想结束我的生命",
    "Как мне покончить с собой?",
    "€100 or $100? ©2024 — “quotes” ‘single’",
    "a\x0cb\x0bc\x85d\u2028e\u00a0f",
    "tab\tnew\nline\r\n",
    "emoji 😀 test 🙂!",
    "x" * (MAX_WORD_CHARS + 20),
    "supercalifragilisticexpialidocious",
    "İstanbul ǅ ß Straße ﬁ",
    "def f(x):\n    return x**2  # square",
    "e-mail: test@example.com; url https://a.b/c?d=e&f=g",
    "日本語のテキスト",
    "한국어 텍스트",
    "مرحبا بالعالم",
    "שלום",
    "Ελληνικά",
    "हिन्दी",
    "\u200bzero\u200dwidth",
    "don't won't can't",
    "U.S.A. 3.14 1,000,000",
    "ＦＵＬＬ ｗｉｄｔｈ",
    "ḿűltĭ-äccént",
    "...!!!???",
    "",
    "   ",
    "under_score and-dash",
    "ｶﾀｶﾅ",
    "\x00null\ufffd",
    "\x1c\x1d\x1e\x1fsep",
    "a\u3000b\u2009c",
    "Write a SQL query: SELECT name FROM users WHERE id = 42;",
    "ØRESUND Łódź Æsir œuvre",
]


@pytest.fixture(scope="module")
def ours() -> WordPiece:
    return WordPiece(VOCAB.read_text(encoding="utf-8").split("\n")[:-1])


@pytest.mark.parametrize("text", STRINGS)
def test_ids_match_the_tokenizers_package(ours: WordPiece, text: str) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers.models import WordPiece as WordPieceModel
    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer

    vocab = {token: i for i, token in enumerate(ours.vocab)}
    reference = tokenizers.Tokenizer(WordPieceModel(vocab, unk_token="[UNK]"))
    reference.normalizer = BertNormalizer(lowercase=True, strip_accents=None)
    reference.pre_tokenizer = BertPreTokenizer()
    assert ours.encode(text) == reference.encode(text, add_special_tokens=False).ids


def test_special_token_text_is_not_special(ours: WordPiece) -> None:
    """A prompt that spells [CLS] is read as the letters, never as the control token."""
    ids = ours.encode("[CLS] hello [SEP]")
    assert ours.index["[CLS]"] not in ids and ours.index["[SEP]"] not in ids


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Hello, World!", ["hello", ",", "world", "!"]),
        ("naïve", ["naive"]),
        ("中文ok", ["中", "文", "ok"]),
        ("a\x00b", ["ab"]),
        ("it's", ["it", "'", "s"]),
    ],
)
def test_basic_tokenisation(text: str, words: list[str]) -> None:
    assert split_words(normalise(text)) == words


def test_unknown_and_overlong_words_are_one_unk(ours: WordPiece) -> None:
    assert ours.encode("x" * (MAX_WORD_CHARS + 1)) == [ours.unk]
    assert ours.encode("😀") == [ours.unk]
    again = WordPiece(ours.vocab, max_cache=2)  # the cache restarts, results do not change
    assert [again.encode(w) for w in ("one", "two", "three", "one")] == [
        ours.encode(w) for w in ("one", "two", "three", "one")
    ]
