"""Shadow sampling: stable per request, close to the configured rate, independent per salt."""

from __future__ import annotations

from router.sampling import fraction, sampled

KEYS = [f'{{"model": "a", "messages": [{{"content": "q{i}"}}]}}'.encode() for i in range(4000)]


def test_the_same_bytes_give_the_same_draw() -> None:
    assert fraction(KEYS[0]) == fraction(bytes(KEYS[0]))
    assert all(0 <= fraction(k) < 1 for k in KEYS)


def test_the_share_sampled_is_close_to_the_rate() -> None:
    for rate in (0.05, 0.5):
        share = sum(sampled(k, rate) for k in KEYS) / len(KEYS)
        assert abs(share - rate) < 0.03, (rate, share)
    assert not any(sampled(k, 0.0) for k in KEYS)
    assert all(sampled(k, 1.0) for k in KEYS)


def test_salts_give_independent_draws() -> None:
    a = [sampled(k, 0.5, salt=1) for k in KEYS]
    b = [sampled(k, 0.5, salt=2) for k in KEYS]
    both = sum(x and y for x, y in zip(a, b, strict=True)) / len(KEYS)
    assert abs(both - 0.25) < 0.03  # independent halves overlap on a quarter


def test_the_secret_changes_every_draw() -> None:
    """Without the deployment's secret a client cannot tell which requests are shadowed."""
    plain = [sampled(k, 0.5) for k in KEYS]
    keyed = [sampled(k, 0.5, secret=b"deployment secret") for k in KEYS]
    same = sum(x == y for x, y in zip(plain, keyed, strict=True)) / len(KEYS)
    assert abs(same - 0.5) < 0.03
    assert keyed == [sampled(k, 0.5, secret=b"deployment secret") for k in KEYS]
