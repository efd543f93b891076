"""The agent's structured events: one JSON object per line on stdout (the last ones
kept for /status), and the rollout's progress reported as such events."""

from __future__ import annotations

import json
import sys
import threading
from collections import deque

from release.agent import state as agent_state
from release.base.redact import redact_data
from release.targets import notify

ACTOR = "ecotrack agent"
EVENTS_KEPT = 200


class EventLog:
    """One JSON object per line on `stream`, the last ones kept for /status."""

    def __init__(self, env: str, project: str, stream=None):
        self.env = env
        self.project = project
        self.stream = stream or sys.stdout
        self.recent: deque[dict] = deque(maxlen=EVENTS_KEPT)
        self._lock = threading.Lock()

    def __call__(self, event: str, level: str = "info", **fields) -> dict:
        # Redacted before it is kept or written: a URL's credentials (a fetch
        # error, the repo) must not reach the log nor /status.
        record = redact_data(
            {
                "ts": agent_state.now(),
                "level": level,
                "event": event,
                "env": self.env,
                "project": self.project,
                **fields,
            }
        )
        line = json.dumps(record, sort_keys=False, default=str)
        with self._lock:
            self.recent.append(record)
            self.stream.write(line + "\n")
            self.stream.flush()
        return record


class AgentReporter(notify.NotifyingReporter):
    """The rollout's progress as structured events instead of terminal lines."""

    def __init__(self, log: EventLog, notifier: notify.Notifier, env, project, commit):
        super().__init__(notifier, env, project, actor=ACTOR, commit=commit)
        self.log = log

    def _print(self, *args, **kwargs) -> None:  # nothing goes to the terminal
        pass

    def info(self, message: str) -> None:
        self.log("rollout", message=message)

    def note(self, message: str) -> None:
        self.log("rollout", message=message)

    def step(self, service: str, step: str, message: str) -> None:
        self.log("rollout_step", service=service, step=step, message=message)
        super().step(service, step, message)

    def plan(self, plan) -> None:
        self.log(
            "plan",
            changes=[
                {"service": s.service, "action": s.action, "reasons": list(s.reasons)}
                for s in plan.changes
            ],
        )
        self.notify_plan(plan)  # the table stays off stdout: that is the JSON log
