"""One service's rollout as the engine carries it out (engine.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from release.engine import steps as S
from release.engine.platform import ProxyAdmin
from release.model.desired import Unit
from release.model.live import LiveContainer


def names(containers: Sequence[LiveContainer]) -> str:
    return ", ".join(c.name for c in containers) or "none"


@dataclass
class Run:
    """One service's rollout as it goes: the plan's containers plus what it started."""

    unit: Unit
    config_hash: str
    rollout: S.Rollout
    proxy: ProxyAdmin | None
    new: list[LiveContainer] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)  # exit codes of stopped ones
    gate: Callable[["Run"], None] | None = None  # the judge step (canary)

    @property
    def serving(self) -> list[LiveContainer]:
        return [*self.rollout.keep, *self.new]

    @property
    def to_prove(self) -> list[LiveContainer]:
        """What the health gate and the switch wait on: the new replicas and those a
        killed attempt left that never served; not the ones already serving."""
        return [*self.rollout.unproven, *self.new]
