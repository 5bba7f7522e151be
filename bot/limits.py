"""Rate limits per client for the chat API and the classroom API: token buckets, in memory.

A bucket holds ``burst`` requests and refills at ``per_minute`` a minute; a request that finds
it empty is refused with 429 and a Retry-After of the seconds until one is back. Buckets are
keyed by a client (an address, or a pseudonymous user id with its address) and forgotten,
oldest first, past ``MAX_CLIENTS``, so a flood of new keys costs bounded memory.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

MAX_CLIENTS = 20_000  # buckets kept at once; the least recently used go first


@dataclass
class Bucket:
    tokens: float
    at: float


@dataclass
class RateLimit:
    """``per_minute`` requests a minute for each key, ``burst`` of them at once."""

    per_minute: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    buckets: OrderedDict[str, Bucket] = field(default_factory=OrderedDict)

    def take(self, key: str) -> float:
        """0 when the request may go ahead (and counts), else the seconds to wait."""
        now = self.clock()
        bucket = self.buckets.pop(key, None)
        if bucket is None:
            bucket = Bucket(float(self.burst), now)
        else:
            bucket.tokens = min(float(self.burst),
                                bucket.tokens + (now - bucket.at) * self.per_minute / 60)
            bucket.at = now
        self.buckets[key] = bucket
        while len(self.buckets) > MAX_CLIENTS:
            self.buckets.popitem(last=False)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) * 60 / self.per_minute


def retry_after(seconds: float) -> str:
    """The Retry-After header's whole seconds (at least 1)."""
    return str(max(1, math.ceil(seconds)))


def too_many(seconds: float, what: str) -> web.Response:
    """The 429 answer: ``reason`` ``rate_limited`` for the pages to show in the user's
    language, ``retry_after`` in seconds."""
    wait = int(retry_after(seconds))
    return web.json_response(
        {"error": f"too many {what} from this device: wait {wait} s and try again",
         "reason": "rate_limited", "retry_after": wait},
        status=429, headers={"Retry-After": str(wait)})


def client_address(request: web.Request, trust_forwarded: bool) -> str:
    """The client's address; with ``trust_forwarded`` (behind a reverse proxy that sets it),
    the last address in X-Forwarded-For."""
    if trust_forwarded:
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(forwarded))
        except ValueError:
            pass
    return request.remote or "unknown"


def is_loopback(host: str) -> bool:
    """True when a server listening on ``host`` can be reached from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
