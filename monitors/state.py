"""Where the gap windows and breaker states live: in process (one replica) or in Redis
(several replicas agree on the gap and on routing).

Either way the router reads breaker states from the local GapMonitor, so a request never
waits on Redis. The store is the one owner of breaker movement: it ticks the monitor
after it records a pair and on every refresh (time alone can expire pairs). With Redis,
every scored pair is written there (once per job id: a job scored twice, e.g. reclaimed
from a dead worker, counts once), and each process mirrors the windows and the breakers
into its GapMonitor every `refresh_s`: a window whole the first time (and after Redis lost
its data), then only the pairs added since. A breaker moves when any process's refresh
sees the window cross the threshold; it writes the new state, and the others read it at
their next refresh. Windows expire by time inside Redis (old members trimmed on every
write; idle keys expire): no sweeper process.

Redis down or slow: the last mirrored state stays in use, writes fail and are counted,
`healthy()` says so (metrics, /readyz), and the next successful call is the reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from monitors.gap import GapMonitor, PairSample
from monitors.metrics import StateMetrics
from router.types import BreakerState

log = logging.getLogger("distillgate.state")
SEP = "\x1f"  # between alias and category in Redis field names


class StateUnavailable(Exception):
    """A write to the shared state failed (Redis down, slow or refusing)."""


class StateStore(Protocol):
    async def record_pair(self, alias: str, category: str, job_id: str, sample: PairSample) -> bool:
        """Add a pair; False when this job id was recorded already."""
        ...

    async def record_noise(
        self, alias: str, category: str, job_id: str, divergence: float
    ) -> None: ...

    async def refresh(self) -> None:
        """Bring the local GapMonitor up to date with the shared state (no-op in memory)."""
        ...

    def healthy(self) -> bool: ...

    def describe(self) -> dict[str, Any]: ...


class MemoryState:
    """The default: the GapMonitor itself is the state."""

    def __init__(self, monitor: GapMonitor, remember: int = 10_000) -> None:
        self._monitor = monitor
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remember = remember

    async def record_pair(self, alias: str, category: str, job_id: str, sample: PairSample) -> bool:
        if job_id in self._seen:
            return False
        self._seen[job_id] = None
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        self._monitor.add(alias, category, sample)
        self._monitor.tick([(alias, category)])
        return True

    async def record_noise(self, alias: str, category: str, job_id: str, divergence: float) -> None:
        self._monitor.add_noise(alias, category, self._monitor.now(), divergence)
        self._monitor.tick([(alias, category)])

    async def refresh(self) -> None:
        self._monitor.tick()

    def healthy(self) -> bool:
        return True

    def describe(self) -> dict[str, Any]:
        return {"backend": "memory", "ok": True}


# Add a member to a window once per job id, trim by time and count, keep the key alive as
# long as the window, and bump the window's version so mirrors know to pull it again.
_ADD = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) == false then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[4])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[5]) + 1))
redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[6])
redis.call('HINCRBY', KEYS[4], ARGV[6], 1)
redis.call('SET', KEYS[5], ARGV[7], 'NX')
return 1
"""
OVERLAP_S = 10.0  # how late (by its stamp) a member may reach Redis and still be mirrored
MEMORY_EVERY = 20  # refreshes between two reads of Redis' memory use


@dataclass
class _Pulled:
    """What this process has mirrored of one window kind: the newest stamp, and the ids
    stamped within OVERLAP_S of it, so the overlapping part of the next pull is not added
    twice. Pulls after the first fetch only that tail, not the whole window."""

    newest: float = -math.inf
    ids: dict[str, float] = field(default_factory=dict)

    def since(self) -> float:
        return self.newest - OVERLAP_S

    def take(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        new = [r for r in rows if r["id"] not in self.ids]
        for r in new:
            self.note(r["id"], float(r["at"]))
        floor = self.since()
        self.ids = {k: at for k, at in self.ids.items() if at >= floor}
        return new

    def note(self, ident: str, at: float) -> None:
        self.ids[ident] = at
        self.newest = max(self.newest, at)


class RedisState:
    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        monitor: GapMonitor,
        *,
        window_s: float,
        max_samples: int,
        metrics: StateMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._r = client
        self._p = prefix
        self._monitor = monitor
        self._window_s = window_s
        self._ttl = max(1, int(window_s) + 1)
        self._max = max_samples
        self._metrics = metrics
        self._clock = clock
        self._add = client.register_script(_ADD)
        self._versions: dict[str, bytes] = {}
        self._pulled: dict[tuple[str, str], _Pulled] = {}  # (window, kind)
        self._token = uuid.uuid4().hex.encode()  # this process's bid for the store's epoch
        self._epoch: bytes | None = None
        self._ok = True
        self._error = ""
        self._skipped: set[str] = set()  # window names that cannot be read, reported once
        self._refreshes = 0
        metrics.up.set(1)

    def _key(self, *parts: str) -> str:
        return ":".join((self._p, *parts))

    async def record_pair(self, alias: str, category: str, job_id: str, sample: PairSample) -> bool:
        member = orjson.dumps({
            "id": job_id, "at": sample.at, "d": sample.divergence, "s": sample.surface,
            "i": sample.illusion, "f": sample.flip, "x": sample.discriminated, "w": sample.weight,
        })  # fmt: skip
        added = await self._write(alias, category, "pairs", job_id, sample.at, member)
        if added:
            self._monitor.add(alias, category, sample)  # this process sees it at once
            self._monitor.tick([(alias, category)])
        return added

    async def record_noise(self, alias: str, category: str, job_id: str, divergence: float) -> None:
        at = self._clock()
        member = orjson.dumps({"id": job_id, "at": at, "d": divergence})
        if await self._write(alias, category, "noise", job_id, at, member):
            self._monitor.add_noise(alias, category, at, divergence)
            self._monitor.tick([(alias, category)])

    async def _write(
        self, alias: str, category: str, kind: str, job_id: str, at: float, member: bytes
    ) -> bool:
        window = alias + SEP + category
        keys = [
            self._key("seen", kind, job_id),
            self._key("w", kind, window),
            self._key("windows"),
            self._key("versions"),
            self._key("epoch"),
        ]
        args: list[Any] = [
            self._ttl, at, member, at - self._window_s, self._max, window, self._token,
        ]  # fmt: skip
        try:
            added = await self._add(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            self._failed("record", exc)
            raise StateUnavailable(str(exc)) from exc
        self._recovered()
        if added and (pulled := self._pulled.get((window, kind))) is not None:
            pulled.note(job_id, at)  # added locally by the caller: not again at the next pull
        return bool(added)

    async def refresh(self) -> None:
        """Mirror changed windows and every breaker state; write the breakers this process
        moves. Errors keep the last mirrored state."""
        try:
            await self._refresh()
        except (RedisError, OSError) as exc:
            self._failed("refresh", exc)
            return
        self._recovered()

    async def _refresh(self) -> None:
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.smembers(self._key("windows"))
            pipe.hgetall(self._key("versions"))
            pipe.hgetall(self._key("breakers"))
            pipe.get(self._key("epoch"))
            members, versions, breakers, epoch = await pipe.execute()
        if epoch != self._epoch:  # Redis lost its data (or is another one): pull all again
            self._epoch = epoch
            self._versions.clear()
            self._pulled.clear()
        windows = []
        for member in sorted(m.decode(errors="replace") for m in members):
            if SEP in member:
                windows.append(member)
            elif member not in self._skipped:  # counted once, not at every refresh
                self._skipped.add(member)
                self._bad("window", member)
        states = {
            k.decode(errors="replace"): v.decode(errors="replace") for k, v in breakers.items()
        }
        changed = [w for w in windows if versions.get(w.encode()) != self._versions.get(w)]
        if changed:
            await self._pull(changed, versions)
        await self._move_breakers(windows, states)
        if self._refreshes % MEMORY_EVERY == 0:
            await self._read_memory()
        self._refreshes += 1

    async def _read_memory(self) -> None:
        """Redis' used and maximum memory, for the alert that fires before it is full."""
        info: Any = await self._r.info("memory")
        self._metrics.redis_used.set(float(info.get("used_memory", 0)))
        self._metrics.redis_max.set(float(info.get("maxmemory", 0)))

    async def _pull(self, windows: list[str], versions: dict[bytes, bytes]) -> None:
        """Mirror these windows: whole the first time, then only what is new since."""
        cutoff = self._clock() - self._window_s
        async with self._r.pipeline(transaction=False) as pipe:
            for w in windows:
                for kind in ("pairs", "noise"):
                    pulled = self._pulled.get((w, kind))
                    since = cutoff if pulled is None else max(cutoff, pulled.since())
                    pipe.zrangebyscore(self._key("w", kind, w), since, "+inf")
            rows = iter(await pipe.execute())
        for w in windows:
            whole = (w, "pairs") not in self._pulled
            pairs = self._pulled.setdefault((w, "pairs"), _Pulled()).take(self._rows(next(rows)))
            noise = self._pulled.setdefault((w, "noise"), _Pulled()).take(self._rows(next(rows)))
            alias, category = _window_key(w)
            self._monitor.mirror(
                alias, category, self._samples(pairs), self._noise(noise), whole=whole
            )
            self._versions[w] = versions.get(w.encode(), b"")

    async def _move_breakers(self, windows: list[str], states: dict[str, str]) -> None:
        """Each breaker moves from the shared state; the moves this process makes are written."""
        moved: dict[Any, Any] = {}  # redis-py types its mapping keys as any scalar
        keys = {w: _window_key(w) for w in windows}
        for w, (alias, category) in keys.items():
            if w in states:
                try:
                    self._monitor.replace_breaker(alias, category, BreakerState(states[w]))
                except ValueError:
                    self._bad("breaker", w)
        now = self._monitor.tick(list(keys.values()))
        for w, key in keys.items():
            if now[key].value != states.get(w):
                moved[w] = now[key].value
        if moved:
            await self._r.hset(self._key("breakers"), mapping=moved)
            for w, state in moved.items():
                log.info("breaker %s/%s -> %s", *_window_key(w), state)

    def _rows(self, members: list[bytes]) -> list[dict[str, Any]]:
        """Decoded members that have an id and a time; the rest skipped and counted."""
        rows = []
        for member in members:
            try:
                row = orjson.loads(member)
                float(row["at"])
                str(row["id"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                self._bad("sample", member[:80])
                continue
            rows.append(row)
        return rows

    def _samples(self, rows: list[dict[str, Any]]) -> list[PairSample]:
        out = []
        for row in rows:
            try:
                out.append(_sample(row))
            except (KeyError, TypeError, ValueError):
                self._bad("sample", row)
        return out

    def _noise(self, rows: list[dict[str, Any]]) -> list[tuple[float, float]]:
        out = []
        for row in rows:
            try:
                out.append((float(row["at"]), float(row["d"])))
            except (KeyError, TypeError, ValueError):
                self._bad("sample", row)
        return out

    def _bad(self, kind: str, what: object) -> None:
        self._metrics.bad_entries.labels(kind).inc()
        log.warning("shared state: an unreadable %s entry was skipped: %.120r", kind, what)

    def healthy(self) -> bool:
        return self._ok

    def describe(self) -> dict[str, Any]:
        body: dict[str, Any] = {"backend": "redis", "ok": self._ok}
        if not self._ok:
            body["error"] = self._error
        return body

    def _failed(self, operation: str, exc: BaseException) -> None:
        self._metrics.errors.labels(operation).inc()
        if self._ok:
            log.warning("redis %s failed, keeping the last known state: %s", operation, exc)
        self._ok = False
        self._error = f"{type(exc).__name__}: {exc}"
        self._metrics.up.set(0)

    def _recovered(self) -> None:
        if not self._ok:
            log.info("redis is back")
        self._ok = True
        self._error = ""
        self._metrics.up.set(1)


def _window_key(window: str) -> tuple[str, str]:
    alias, _, category = window.partition(SEP)
    return alias, category


def _sample(row: dict[str, Any]) -> PairSample:
    x = row.get("x")
    return PairSample(
        float(row["at"]), float(row["d"]), float(row["s"]), bool(row["i"]), bool(row["f"]),
        None if x is None else bool(x), float(row.get("w", 1.0)),
    )  # fmt: skip


async def refresh_forever(state: StateStore, every_s: float, metrics: StateMetrics) -> None:
    """Refresh every `every_s`; whatever one refresh raises, the next one still runs."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await state.refresh()
        except Exception:
            metrics.errors.labels("refresh").inc()
            log.exception("state refresh failed; the next one runs in %.1f s", every_s)


def client_from(url: str, pool_size: int, timeout_s: float) -> aioredis.Redis:
    """A client whose pool waits (up to timeout_s) for a free connection instead of failing
    at once past its size; redis:// and rediss:// (TLS) URLs, password in the URL."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=pool_size,
        timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
    )
    return aioredis.Redis.from_pool(pool)  # the client owns the pool: aclose() closes both
