"""Deterministic randomness and the identifier shapes real systems use.

Every entity and every day draws from its own generator, derived from the world seed and a name
(`sub_rng(seed, "pod", name, day)`): adding an entity or a scenario does not shift the random
stream of all the others, and the output depends only on the seed.
"""

from __future__ import annotations

import base64
import hashlib
import math
import random

# Kubernetes generated-name suffixes (`rand.SafeEncodeString` alphabet: no vowels, no 0/1/3).
K8S_ALNUM = "bcdfghjklmnpqrstvwxz2456789"
_AWS_ID = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_LOWER_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_MIXED_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def sub_rng(seed: int, *parts: object) -> random.Random:
    """An independent generator for one (seed, name...) pair."""
    digest = hashlib.blake2b(repr((seed,) + parts).encode(), digest_size=16).digest()
    return random.Random(int.from_bytes(digest, "big"))


_V4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_V4_SET = (0x4000 << 64) | (0x8000 << 48)


def uuid4(rng: random.Random) -> str:
    """A random (version 4) UUID string, as `uuid.uuid4()` would print it."""
    h = "%032x" % ((rng.getrandbits(128) & _V4_CLEAR) | _V4_SET)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def pick_chars(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choices(alphabet, k=n))


def k8s_suffix(rng: random.Random, n: int = 5) -> str:
    return pick_chars(rng, K8S_ALNUM, n)


def aws_key_id(rng: random.Random, prefix: str) -> str:
    """AKIA… (IAM user key), ASIA… (STS session), AROA… (role id, 21 chars), AIDA… (user id)."""
    return prefix + pick_chars(rng, _AWS_ID, 17 if prefix in ("AROA", "AIDA") else 16)


def aws_s3_request_id(rng: random.Random) -> str:
    return pick_chars(rng, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 16)


def hex_id(rng: random.Random, n: int) -> str:
    return "%0*x" % (n, rng.getrandbits(4 * n))


def lower_alnum(rng: random.Random, n: int) -> str:
    return pick_chars(rng, _LOWER_ALNUM, n)


def mixed_alnum(rng: random.Random, n: int) -> str:
    return pick_chars(rng, _MIXED_ALNUM, n)


def b64(rng: random.Random, nbytes: int, *, urlsafe: bool = False) -> str:
    raw = rng.randbytes(nbytes)
    if urlsafe:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return base64.b64encode(raw).decode()


def poisson(rng: random.Random, mean: float) -> int:
    """Poisson draw: exact (Knuth) for small means, normal approximation for large ones."""
    if mean <= 0:
        return 0
    if mean < 30:
        limit, k, p = math.exp(-mean), 0, rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k
    return max(0, int(round(rng.gauss(mean, math.sqrt(mean)))))


_LOGNORMAL = [math.exp(random.Random(1).gauss(0.0, 0.6)) for _ in range(1024)]


def lognormal_us(rng: random.Random, median_ms: float) -> int:
    """A server-side latency in microseconds (log-normal, sigma 0.6, around `median_ms`)."""
    return max(200, int(median_ms * 1000 * _LOGNORMAL[rng.getrandbits(10)]))
