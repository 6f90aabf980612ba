"""What the shadow path may spend on the teacher: requests per second and tokens per minute.

A call reserves its worst case before it is made (one request, and the prompt's tokens
plus `max_tokens` answer tokens) and settles after (the unused part comes back), so one
large request cannot overspend the budget. In process the buckets are local; with the
Redis backend every replica and shadow worker draws from the same buckets in Redis (one
Lua script, Redis' own clock), so the budget does not multiply with the replicas.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis


@dataclass(frozen=True)
class Limits:
    requests_per_s: float
    tokens_per_min: float

    @property
    def request_burst(self) -> float:
        return max(1.0, self.requests_per_s)


class Budget(Protocol):
    async def reserve(self, tokens: float) -> bool:
        """Take one request and `tokens` tokens, or nothing (False) when either is short."""
        ...

    async def settle(self, reserved: float, used: float) -> None:
        """Give back what a reservation did not use (or take what it used beyond)."""
        ...


class TokenBucket:
    """`rate` units per second, bursts up to `capacity`; time from an injected clock."""

    def __init__(self, rate: float, capacity: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._level = capacity
        self._at = clock()

    def _fill(self) -> None:
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._at) * self.rate)
        self._at = now

    def take(self, amount: float = 1.0) -> bool:
        """Spend `amount` if available; False (nothing spent) when the bucket is short."""
        self._fill()
        if self._level < amount:
            return False
        self._level -= amount
        return True

    def charge(self, amount: float) -> None:
        """Spend after the fact (negative: give back); the level may go below zero."""
        self._fill()
        self._level = min(self.capacity, self._level - amount)

    def available(self) -> bool:
        self._fill()
        return self._level > 0


class LocalBudget:
    """The budget of one process (state.backend: memory)."""

    def __init__(self, limits: Limits, clock: Callable[[], float]) -> None:
        self._requests = TokenBucket(limits.requests_per_s, limits.request_burst, clock)
        self._tokens = TokenBucket(limits.tokens_per_min / 60, limits.tokens_per_min, clock)

    async def reserve(self, tokens: float) -> bool:
        if not self._tokens.take(tokens):
            return False
        if not self._requests.take():
            self._tokens.charge(-tokens)
            return False
        return True

    async def settle(self, reserved: float, used: float) -> None:
        self._tokens.charge(used - reserved)


# KEYS: the requests bucket, the tokens bucket (hashes of level and at).
# ARGV: request rate, request burst, token rate, token capacity, tokens to reserve, mode
# ("reserve": take one request and the tokens, or nothing; "settle": add ARGV[5] tokens).
_BUCKETS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local function level(key, rate, cap)
  local v = redis.call('HMGET', key, 'level', 'at')
  local l, at = tonumber(v[1]), tonumber(v[2])
  if l == nil then return cap end
  return math.min(cap, l + math.max(0, now - at) * rate)
end
local function store(key, l, ttl)
  redis.call('HSET', key, 'level', tostring(l), 'at', tostring(now))
  redis.call('EXPIRE', key, ttl)
end
local rr, rc, tr, tc = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local amount = tonumber(ARGV[5])
local tokens = level(KEYS[2], tr, tc)
if ARGV[6] == 'settle' then
  store(KEYS[2], math.min(tc, tokens + amount), 120)
  return 1
end
local requests = level(KEYS[1], rr, rc)
if requests < 1 or tokens < amount then return 0 end
store(KEYS[1], requests - 1, 120)
store(KEYS[2], tokens - amount, 120)
return 1
"""


class RedisBudget:
    """One budget for every replica and shadow worker that share a Redis."""

    def __init__(self, client: aioredis.Redis, prefix: str, limits: Limits) -> None:
        self._script = client.register_script(_BUCKETS)
        self._keys = [f"{prefix}:budget:requests", f"{prefix}:budget:tokens"]
        self._limits = limits

    async def reserve(self, tokens: float) -> bool:
        return bool(await self._call(tokens, "reserve"))

    async def settle(self, reserved: float, used: float) -> None:
        await self._call(reserved - used, "settle")

    async def _call(self, amount: float, mode: str) -> int:
        limits = self._limits
        args: list[float | str] = [
            limits.requests_per_s, limits.request_burst, limits.tokens_per_min / 60,
            limits.tokens_per_min, amount, mode,
        ]  # fmt: skip
        result: int = await self._script(keys=self._keys, args=args)
        return result
