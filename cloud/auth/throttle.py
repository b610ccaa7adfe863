"""Sign-in brakes (security finding 4 of issue #13): failed passwords lock the user name and the address with
exponential backoff, and at most a few Argon2 computations run at once so a flood cannot starve the workers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cloud.errors import DomainError
from cloud.i18n_catalogs import N_
from cloud.ratelimit import Lockout, client_address, lockout_for

# Per user name: 5 free failures, then 30 s, 60 s, … up to 15 min. Per address (a ward's NAT shares one): 30.
USER_LIMITS = {"free": 5, "base_s": 30, "max_s": 900}
ADDRESS_LIMITS = {"free": 30, "base_s": 30, "max_s": 900}
# Invite codes (verify, WeChat bind): 5 wrong codes per account, 20 per address, then 1 min doubling up to 1 h.
INVITE_LIMITS = {"free": 5, "base_s": 60, "max_s": 3600}
INVITE_ADDRESS_LIMITS = {"free": 20, "base_s": 60, "max_s": 3600}
LIMITS = {"login": (USER_LIMITS, ADDRESS_LIMITS), "invite": (INVITE_LIMITS, INVITE_ADDRESS_LIMITS)}
TOO_MANY = N_("Too many failed sign-ins. Please wait a few minutes and try again.")
TOO_MANY_CODES = N_("Too many wrong invite codes. Please wait a while and try again, or ask an admin to approve you.")
BUSY = N_("The server is busy signing people in. Please try again in a moment.")

HASH_SLOTS = 4  # concurrent Argon2 hashes or checks (each ~50 ms of a core and 64 MiB)
HASH_WAIT_S = 10.0
_hashing = threading.BoundedSemaphore(HASH_SLOTS)


class TooManyAttempts(DomainError):
    """The user name or the address is locked for a while after failed attempts."""

    status_code = 429


class Busy(DomainError):
    """Every hashing slot stayed taken for HASH_WAIT_S."""

    status_code = 503


@contextmanager
def hash_slot() -> Iterator[None]:
    """Hold one of the HASH_SLOTS while hashing or checking a password; Busy when none frees up in time."""
    slots = _hashing
    if not slots.acquire(timeout=HASH_WAIT_S):
        raise Busy(BUSY)
    try:
        yield
    finally:
        slots.release()


def _keys(request: Any, who: str, kind: str) -> list[tuple[Lockout, str]]:
    state = request.app.state
    per_user, per_address = LIMITS[kind]
    return [(lockout_for(state, f"{kind}-user", **per_user), who.strip().casefold()[:150]),
            (lockout_for(state, f"{kind}-address", **per_address), client_address(request))]


def check(request: Any, who: str, *, kind: str = "login") -> None:
    """TooManyAttempts (with retry_after seconds) while who (a user name, an account, an openid) or the caller's
    address is locked for kind ("login" or "invite")."""
    wait = max(lockout.retry_after(key) for lockout, key in _keys(request, who, kind))
    if wait:
        raise TooManyAttempts(TOO_MANY if kind == "login" else TOO_MANY_CODES, retry_after=wait)


def failed(request: Any, who: str, *, kind: str = "login") -> None:
    """Count a failed attempt against who and the address."""
    for lockout, key in _keys(request, who, kind):
        lockout.failed(key)


def succeeded(request: Any, who: str, *, kind: str = "login") -> None:
    """A success clears who's failures (not the address's: one known account must not let an address go on
    guessing others)."""
    lockout, key = _keys(request, who, kind)[0]
    lockout.succeeded(key)
