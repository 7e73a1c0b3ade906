"""Which shard a numeric point id belongs to: a copy of quiver's consistent hashing
(crates/collection/src/hash_ring.rs: SipHash-2-4 with zero keys, 100 virtual nodes per shard).
Used only to annotate evidence (key → shard); the checker does not depend on it."""

from __future__ import annotations

import bisect
import struct
from functools import lru_cache

_M = (1 << 64) - 1


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _M


def siphash24(data: bytes, k0: int = 0, k1: int = 0) -> int:
    v0 = k0 ^ 0x736F6D6570736575
    v1 = k1 ^ 0x646F72616E646F6D
    v2 = k0 ^ 0x6C7967656E657261
    v3 = k1 ^ 0x7465646279746573

    def rnd() -> None:
        nonlocal v0, v1, v2, v3
        v0 = (v0 + v1) & _M
        v1 = _rotl(v1, 13) ^ v0
        v0 = _rotl(v0, 32)
        v2 = (v2 + v3) & _M
        v3 = _rotl(v3, 16) ^ v2
        v0 = (v0 + v3) & _M
        v3 = _rotl(v3, 21) ^ v0
        v2 = (v2 + v1) & _M
        v1 = _rotl(v1, 17) ^ v2
        v2 = _rotl(v2, 32)

    n = len(data)
    end = n - n % 8
    for i in range(0, end, 8):
        m = struct.unpack_from("<Q", data, i)[0]
        v3 ^= m
        rnd()
        rnd()
        v0 ^= m
    tail = data[end:] + bytes(7 - n % 8)
    b = ((n & 0xFF) << 56) | int.from_bytes(tail[:7], "little")
    v3 ^= b
    rnd()
    rnd()
    v0 ^= b
    v2 ^= 0xFF
    for _ in range(4):
        rnd()
    return v0 ^ v1 ^ v2 ^ v3


@lru_cache(maxsize=16)
def _ring(shards: int) -> tuple[list[int], list[int]]:
    nodes = sorted((siphash24(struct.pack("<II", s, i)), s) for s in range(shards) for i in range(100))
    return [h for h, _ in nodes], [s for _, s in nodes]


def shard_of(point_id: int, shards: int) -> int:
    hashes, owners = _ring(shards)
    key = siphash24(struct.pack("<QQ", 0, point_id))
    i = bisect.bisect_left(hashes, key)
    return owners[i] if i < len(owners) else owners[0]
