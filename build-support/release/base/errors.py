"""One exception tree for the release tooling, caught once at the task layer.

Every error carries a one-line message meant for the user; adapters translate SDK and
subprocess failures into these so that no traceback reaches the terminal.
"""

from release.base import exit_codes


class ReleaseError(Exception):
    """Base of every expected failure. `exit_code` is what the CLI exits with."""

    exit_code = exit_codes.FAILURE


class CommandError(ReleaseError):
    """An external command (docker, pants, git, ...) failed."""


class EngineError(ReleaseError):
    """The Docker engine is missing or cannot be started."""


class ConfigError(ReleaseError):
    """A project or environment file is missing or invalid."""


class HealthError(ReleaseError):
    """A service did not become healthy in time."""


class LockError(ReleaseError):
    """Another deploy holds the environment's deploy lock."""

    exit_code = exit_codes.LOCKED


class LockLost(LockError):
    """This deploy's lease on the lock ended (taken over, released): its fencing
    token is no longer current, so it must not act on the host any more. Never
    caught as a failed step: no abort runs for it (the new holder owns the host)."""


class UsageError(ReleaseError):
    """The user asked for something that does not exist (service, environment, ...)."""

    exit_code = exit_codes.USAGE


class GitError(ReleaseError):
    """Git cannot answer: history missing from a shallow clone, no merge-base, ..."""


class UnknownRefError(GitError):
    """A ref (branch, tag, commit) that this clone does not have."""

    exit_code = exit_codes.USAGE


class GraphError(ReleaseError):
    """Pants could not compute the dependency graph."""
