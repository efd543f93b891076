"""Deploy notifications: Slack-compatible incoming-webhook messages.

What is said (a `Notice`: deploy started, succeeded, failed, automatically rolled
back, drift found, canary promoted or aborted) is plain data; `message` turns it into
the webhook's JSON (`text` for notifications and clients without blocks, `blocks`
for the channel). The webhook URL comes only from the environment variable
ECOTRACK_SLACK_WEBHOOK_URL, never from git; without it nothing is sent.

Sending never fails a deploy: `Notifier.send` retries with bounded exponential
backoff (adapters/webhook.py) and, when the receiver still does not take the message,
logs one warning and returns.

`NotifyingReporter` hooks notifications into the deploy's progress reporter
(deploy/events.Reporter): the plan announces the start, an `abort` step is an automatic
rollback, the result is success or failure. `./inv deploy`, the canary and the agent
all report through it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from release.adapters.webhook import Backoff, Delivery, WebhookUrl, post
from release.base import console
from release.engine.events import Reporter

ENV_VAR = "ECOTRACK_SLACK_WEBHOOK_URL"

STARTED = "deploy_started"
SUCCEEDED = "deploy_succeeded"
FAILED = "deploy_failed"
ROLLED_BACK = "rollback"
DRIFT = "drift_found"
CANARY_PROMOTED = "canary_promoted"
CANARY_ABORTED = "canary_aborted"

KINDS = {
    STARTED: (":rocket:", "deploy started"),
    SUCCEEDED: (":white_check_mark:", "deploy succeeded"),
    FAILED: (":x:", "deploy failed"),
    ROLLED_BACK: (":rewind:", "automatic rollback"),
    DRIFT: (":warning:", "drift found"),
    CANARY_PROMOTED: (":hatching_chick:", "canary promoted"),
    CANARY_ABORTED: (":no_entry:", "canary aborted"),
}


@dataclass(frozen=True)
class Notice:
    kind: str  # one of KINDS
    env: str
    project: str
    summary: str  # one line: what happened
    details: tuple[str, ...] = ()  # a few lines: per service, reasons
    commit: str = ""  # the manifest commit, when known
    actor: str = ""  # who or what acted (user@host, the agent)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown notice kind {self.kind!r}")


def _escape(text: str) -> str:
    """Slack's three control characters in mrkdwn text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


MAX_DETAILS = 10


def message(n: Notice) -> dict:
    """The webhook payload (Slack incoming-webhook format)."""
    emoji, title = KINDS[n.kind]
    head = f"{emoji} *{title}* in *{_escape(n.env)}*: {_escape(n.summary)}"
    context = [f"project `{_escape(n.project)}`"]
    if n.commit:
        context.append(f"commit `{_escape(n.commit[:12])}`")
    if n.actor:
        context.append(f"by {_escape(n.actor)}")
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": head}}]
    if n.details:
        lines = [f"• {_escape(d)}" for d in n.details[:MAX_DETAILS]]
        if len(n.details) > MAX_DETAILS:
            lines.append(f"… and {len(n.details) - MAX_DETAILS} more")
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}
        )
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": " · ".join(context)}],
        }
    )
    text = f"[{n.env}] {title}: {n.summary}"
    return {"text": text, "blocks": blocks}


def _warn(text: str) -> None:
    console.err.print(f"warning: {text}", style="yellow", markup=False, soft_wrap=True)


class Notifier:
    """Sends notices to one webhook; a Notifier without a URL sends nothing."""

    def __init__(
        self,
        url: WebhookUrl | None,
        backoff: Backoff = Backoff(),
        warn: Callable[[str], None] = _warn,
        sender: Callable[..., Delivery] = post,
    ):
        self.url = url
        self.backoff = backoff
        self.warn = warn
        self.sender = sender
        self.sent: list[tuple[Notice, Delivery]] = []

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs) -> "Notifier":
        value = (environ if environ is not None else os.environ).get(ENV_VAR, "")
        return cls(WebhookUrl(value.strip()) if value.strip() else None, **kwargs)

    @property
    def enabled(self) -> bool:
        return self.url is not None

    def send(self, notice: Notice) -> Delivery | None:
        """Posts the notice; never raises. None when no webhook is configured."""
        if self.url is None:
            return None
        try:
            delivery = self.sender(self.url, message(notice), self.backoff)
        except Exception as exc:  # a notification must never break what it reports
            delivery = Delivery(False, 0, None, f"{type(exc).__name__}: {exc}")
        self.sent.append((notice, delivery))
        if not delivery.ok:
            self.warn(
                f"notification '{notice.kind}' not delivered after "
                f"{delivery.attempts} attempt(s): {delivery.error}"
            )
        return delivery


# -- notices of a deploy --------------------------------------------------------------


def started_notice(env: str, project: str, plan, actor: str = "", commit: str = ""):
    changes = list(plan.changes)
    details = tuple(
        f"{s.service}: {s.action}"
        + (f" {s.live.short()} → " if s.live else " → ")
        + (s.desired.short() if s.desired else "-")
        for s in changes
    )
    return Notice(
        STARTED,
        env,
        project,
        f"{len(changes)} service(s): " + ", ".join(s.service for s in changes),
        details,
        commit,
        actor,
    )


def result_notice(result, actor: str = "", commit: str = "") -> Notice:
    """Success or failure of a finished deploy (a rollout.DeployResult)."""
    outcomes = list(result.outcomes)
    details = tuple(
        f"{o.service}: {o.result} ({o.action} {o.from_} → {o.to}, {o.duration:.1f}s)"
        + (f": {o.detail.splitlines()[0]}" if o.result == "failed" and o.detail else "")
        for o in outcomes
    )
    if result.ok:
        done = [o.service for o in outcomes if o.result == "ok"]
        summary = f"{', '.join(done)} in {result.duration:.0f}s" if done else "in sync"
        return Notice(
            SUCCEEDED,
            result.environment,
            result.project,
            summary,
            details,
            commit,
            actor,
        )
    failed = [o for o in outcomes if o.result == "failed"]
    summary = (
        f"{failed[0].service} failed; the old containers keep serving"
        if failed
        else f"stopped: {result.error or 'unknown error'}"
    )
    return Notice(
        FAILED, result.environment, result.project, summary, details, commit, actor
    )


def rollback_notice(
    env: str, project: str, service: str, what: str, actor: str = "", commit: str = ""
) -> Notice:
    return Notice(
        ROLLED_BACK,
        env,
        project,
        f"{service}: new containers removed, the previous version keeps serving",
        (what,) if what else (),
        commit,
        actor,
    )


def drift_notice(
    env: str,
    project: str,
    findings: Sequence,
    actor: str = "",
    commit: str = "",
) -> Notice:
    """`findings` are drift.Finding objects (service, kind, describe())."""
    services = sorted({f.service for f in findings})
    return Notice(
        DRIFT,
        env,
        project,
        f"{len(findings)} finding(s) in {', '.join(services)}",
        tuple(f.describe() for f in findings),
        commit,
        actor,
    )


class NotifyingReporter(Reporter):
    """The deploy's progress reporter, sending notices as the deploy goes.

    `dry_run` plans send nothing. `commit` and `actor` go into every notice.
    """

    def __init__(
        self,
        notifier: Notifier,
        env: str,
        project: str,
        *,
        as_json: bool = False,
        dry_run: bool = False,
        actor: str = "",
        commit: str = "",
    ):
        super().__init__(as_json=as_json)
        self.notifier = notifier
        self.env = env
        self.project = project
        self.dry_run = dry_run
        self.actor = actor
        self.commit = commit
        self.rolled_back: set[str] = set()

    def plan(self, plan) -> None:
        super().plan(plan)
        self.notify_plan(plan)

    def notify_plan(self, plan) -> None:
        if not self.dry_run and plan.changes:
            self.notifier.send(
                started_notice(self.env, self.project, plan, self.actor, self.commit)
            )

    def step(self, service: str, step: str, message: str) -> None:
        super().step(service, step, message)
        if step == "abort" and service not in self.rolled_back:
            self.rolled_back.add(service)
            self.notifier.send(
                rollback_notice(
                    self.env, self.project, service, message, self.actor, self.commit
                )
            )

    def result(self, result) -> None:
        super().result(result)
        self.notify_result(result)

    def notify_result(self, result) -> None:
        if result.dry_run:
            return
        if result.ok and not result.outcomes:
            return  # nothing was done: nothing to announce
        self.notifier.send(result_notice(result, self.actor, self.commit))
