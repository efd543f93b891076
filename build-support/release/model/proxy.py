"""A proxy's servers as the deploy sees them: HAProxy's server states, a server
slot of a backend, and the responses counted per server.

Plain data: adapters/proxy.py reads them from HAProxy's runtime API, the engine
(engine/proxy_steps.py) decides from them, the canary's judge counts with them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# srv_op_state (HAProxy's enum srv_state) and srv_admin_state bits (SRV_ADMF_*).
OP_STOPPED, OP_STARTING, OP_RUNNING, OP_STOPPING = 0, 1, 2, 3
ADMIN_FMAINT = 0x01  # forced maintenance (set by us)
ADMIN_IMAINT = 0x02
ADMIN_CMAINT = 0x04
ADMIN_FDRAIN = 0x08  # forced drain (set by us)
ADMIN_IDRAIN = 0x10
ADMIN_RMAINT = 0x20  # no address from DNS: an empty slot
ADMIN_HMAINT = 0x40
FORCED = ADMIN_FMAINT | ADMIN_FDRAIN
ANY_MAINT = ADMIN_FMAINT | ADMIN_IMAINT | ADMIN_CMAINT | ADMIN_RMAINT | ADMIN_HMAINT

STATES = ("ready", "drain", "maint")


@dataclass(frozen=True)
class Server:
    backend: str
    name: str
    addr: str  # "" for an empty slot
    op_state: int
    admin_state: int
    scur: int = 0  # current sessions
    status: str = ""  # as `show stat` words it: UP, DOWN, DRAIN, MAINT, ...

    @property
    def empty(self) -> bool:
        return not self.addr

    @property
    def parked(self) -> bool:
        """In maintenance: gets no traffic (a new replica held out, a retired one)."""
        return bool(self.admin_state & ANY_MAINT)

    @property
    def forced(self) -> bool:
        """Held by us: in forced maintenance or forced drain."""
        return bool(self.admin_state & FORCED)

    @property
    def up(self) -> bool:
        """Taking new requests: running, and neither in maintenance nor draining."""
        return (
            self.op_state == OP_RUNNING
            and not self.admin_state & (ANY_MAINT | ADMIN_FDRAIN | ADMIN_IDRAIN)
            and bool(self.addr)
        )


@dataclass(frozen=True)
class Counts:
    """Responses a server gave through the proxy, and the failures among them."""

    requests: int = 0  # responses of any status, plus connection failures
    errors: int = 0  # 5xx + connection errors + aborted/invalid responses
    status: str = ""  # the proxy's view: UP, DOWN, DRAIN, MAINT, ...

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(
            self.requests + other.requests,
            self.errors + other.errors,
            self.status or other.status,
        )

    def since(self, earlier: "Counts") -> "Counts":
        return Counts(
            self.requests - earlier.requests, self.errors - earlier.errors, self.status
        )

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def by_addr(servers: Iterable[Server]) -> dict[str, Server]:
    return {s.addr: s for s in servers if s.addr}
