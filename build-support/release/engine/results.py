"""What a deploy did, per service and as a whole, and how it failed."""

from __future__ import annotations

from dataclasses import dataclass, field

from release.base import exit_codes
from release.base.errors import ReleaseError
from release.plan.plan import Plan


class DeployError(ReleaseError):
    """A deploy could not be planned or carried out."""


class DeployFailed(DeployError):
    """A service failed its rollout (and was rolled back); `result` says which."""

    def __init__(self, message: str, result: "DeployResult"):
        super().__init__(message)
        self.result = result
        self.exit_code = result.exit_code  # 130 when Ctrl-C or SIGTERM stopped it


class StepFailed(Exception):
    """A rollout step failed; `container` names the container to blame, if any."""

    def __init__(self, message: str, container: str = ""):
        super().__init__(message)
        self.container = container


@dataclass
class Outcome:
    service: str
    action: str
    from_: str
    to: str
    duration: float = 0.0
    result: str = "skipped"  # ok | failed | skipped
    detail: str = ""

    def to_dict(self) -> dict:
        return {
            "service": self.service,
            "action": self.action,
            "from": self.from_,
            "to": self.to,
            "duration_s": round(self.duration, 2),
            "result": self.result,
            "detail": self.detail,
        }


@dataclass
class DeployResult:
    environment: str
    project: str
    host: str
    plan: Plan
    dry_run: bool
    started_at: str
    outcomes: list[Outcome] = field(default_factory=list)
    duration: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and all(o.result == "ok" for o in self.outcomes)

    @property
    def interrupted(self) -> bool:
        """Ctrl-C or SIGTERM stopped it (after the engine rolled back)."""
        return self.error.startswith("interrupted")

    @property
    def exit_code(self) -> int:
        if self.dry_run:
            return exit_codes.OK if self.plan.in_sync else exit_codes.DIFFERS
        if self.interrupted:
            return exit_codes.INTERRUPTED
        return exit_codes.OK if self.ok else exit_codes.FAILURE

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.result == "failed"]

    def failure(self) -> str:
        """The one line a failed deploy ends with: the first failed service and why,
        else why the deploy stopped."""
        first = next(iter(self.failed), None)
        return (
            f"{first.service}: {first.detail}"
            if first
            else f"deploy stopped: {self.error}"
        )

    def to_dict(self) -> dict:
        return {
            "environment": self.environment,
            "project": self.project,
            "host": self.host,
            "dry_run": self.dry_run,
            "started_at": self.started_at,
            "duration_s": round(self.duration, 2),
            "result": ("dry-run" if self.dry_run else ("ok" if self.ok else "failed")),
            "exit_code": self.exit_code,
            "error": self.error,
            "plan": self.plan.to_dict(),
            "services": [o.to_dict() for o in self.outcomes],
        }
