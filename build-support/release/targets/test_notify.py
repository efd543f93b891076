"""Notifications against a real HTTP receiver on 127.0.0.1 that records payloads."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from release.adapters.webhook import Backoff, Delivery, WebhookUrl, post
from release.engine.results import DeployResult, Outcome
from release.plan.plan import Plan, ServicePlan, Side
from release.targets import notify

FAST = Backoff(attempts=4, base=0.01, factor=2.0, cap=0.05, budget=5.0, timeout=2.0)


class Receiver:
    """An incoming-webhook stand-in: records every POST, answers per `script`
    (a list of statuses used in turn; the last one repeats)."""

    def __init__(self, script: list[int]):
        self.script = script
        self.payloads: list[dict] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                receiver.payloads.append(json.loads(self.rfile.read(length)))
                n = len(receiver.payloads) - 1
                status = receiver.script[min(n, len(receiver.script) - 1)]
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"no")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/services/T000/B000/secret-token"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(*script: int) -> Receiver:
        r = Receiver(list(script) or [200])
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def notice(kind=notify.STARTED, **kw) -> notify.Notice:
    return notify.Notice(
        kind=kind,
        env=kw.pop("env", "staging"),
        project="ecotrack-staging",
        summary=kw.pop("summary", "waste 1.3.0"),
        **kw,
    )


# -- the payload -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, words",
    [
        pytest.param(notify.STARTED, "deploy started", id="start"),
        pytest.param(notify.SUCCEEDED, "deploy succeeded", id="success"),
        pytest.param(notify.FAILED, "deploy failed", id="failure"),
        pytest.param(notify.ROLLED_BACK, "automatic rollback", id="rollback"),
        pytest.param(notify.DRIFT, "drift found", id="drift"),
        pytest.param(notify.CANARY_ABORTED, "canary aborted", id="canary-abort"),
    ],
)
def test_message_is_slack_shaped(kind, words):
    m = notify.message(notice(kind, commit="3f2a9c1" + "0" * 33, actor="agent"))
    assert m["text"] == f"[staging] {words}: waste 1.3.0"
    assert m["blocks"][0]["type"] == "section"
    assert words in m["blocks"][0]["text"]["text"]
    context = m["blocks"][-1]["elements"][0]["text"]
    assert "`3f2a9c100000`" in context and "by agent" in context


def test_message_escapes_control_characters_and_caps_details():
    m = notify.message(notice(summary="<b> & co", details=tuple(map(str, range(15)))))
    assert "&lt;b&gt; &amp; co" in m["blocks"][0]["text"]["text"]
    lines = m["blocks"][1]["text"]["text"].splitlines()
    assert len(lines) == notify.MAX_DETAILS + 1 and lines[-1] == "… and 5 more"


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        notice("party")


def test_backoff_is_exponential_and_capped():
    assert Backoff(attempts=5, base=0.5, factor=2, cap=3).delays() == [
        0.5,
        1.0,
        2.0,
        3.0,
    ]
    assert Backoff(attempts=1).delays() == []


# -- the URL: from the environment only, never printed ---------------------------------


def test_without_the_variable_nothing_is_sent():
    n = notify.Notifier.from_env({})
    assert not n.enabled and n.send(notice()) is None


def test_url_comes_from_the_environment_and_never_prints():
    n = notify.Notifier.from_env(
        {notify.ENV_VAR: " https://hooks.example.invalid/services/T/B/s3cr3t "}
    )
    assert n.url.value == "https://hooks.example.invalid/services/T/B/s3cr3t"
    for text in (str(n.url), repr(n.url), n.url.redacted):
        assert "s3cr3t" not in text


# -- against the receiver --------------------------------------------------------------


def test_delivers_once(receiver):
    r = receiver(200)
    n = notify.Notifier(WebhookUrl(r.url), FAST)
    d = n.send(notice(notify.SUCCEEDED))
    assert d == Delivery(True, 1, 200)
    assert len(r.payloads) == 1
    assert r.payloads[0]["text"] == "[staging] deploy succeeded: waste 1.3.0"


def test_fails_twice_then_succeeds(receiver):
    r = receiver(503, 502, 200)
    slept: list[float] = []
    d = post(WebhookUrl(r.url), {"text": "hi"}, FAST, sleep=slept.append)
    assert d.ok and d.attempts == 3 and d.status == 200
    assert slept == [0.01, 0.02]
    assert r.payloads == [{"text": "hi"}] * 3


def test_always_failing_receiver_warns_once_and_never_raises(receiver):
    r = receiver(500)
    warnings: list[str] = []
    n = notify.Notifier(WebhookUrl(r.url), FAST, warn=warnings.append)
    d = n.send(notice(notify.FAILED))
    assert not d.ok and d.attempts == FAST.attempts and d.status == 500
    assert len(r.payloads) == FAST.attempts
    assert len(warnings) == 1 and "after 4 attempt(s): HTTP 500" in warnings[0]
    assert "secret-token" not in warnings[0]


def test_client_errors_are_not_retried(receiver):
    r = receiver(404)
    d = post(WebhookUrl(r.url), {"text": "x"}, FAST, sleep=lambda s: None)
    assert not d.ok and d.attempts == 1 and len(r.payloads) == 1


def test_nothing_listening_is_a_warning_not_an_error(receiver):
    r = receiver(200)
    url = r.url
    r.close()
    warnings: list[str] = []
    n = notify.Notifier(WebhookUrl(url), FAST, warn=warnings.append)
    d = n.send(notice())
    assert not d.ok and d.status is None and "ConnectError" in d.error
    assert len(warnings) == 1


def test_retries_stop_at_the_time_budget():
    now = [0.0]
    slept: list[float] = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    def clock():
        return now[0]

    import httpx

    transport = httpx.MockTransport(lambda request: httpx.Response(503))
    budget = Backoff(attempts=10, base=1.0, factor=2.0, cap=8.0, budget=5.0)
    d = post(
        WebhookUrl("http://127.0.0.1:9/x"),
        {},
        budget,
        sleep=sleep,
        clock=clock,
        transport=transport,
    )
    assert not d.ok and slept == [1.0, 2.0] and "budget" in d.error


def test_a_sender_that_raises_is_contained():
    def boom(*a, **k):
        raise RuntimeError("bug")

    warnings: list[str] = []
    n = notify.Notifier(
        WebhookUrl("http://x.invalid/"), warn=warnings.append, sender=boom
    )
    assert not n.send(notice()).ok and len(warnings) == 1


# -- the deploy reporter ---------------------------------------------------------------


def _plan() -> Plan:
    return Plan(
        "staging",
        "ecotrack-staging",
        (
            ServicePlan(
                "waste",
                "waste",
                "http",
                "roll",
                Side("sha256:" + "a" * 64, "1.2.0", 2),
                Side("sha256:" + "b" * 64, "1.3.0", 2),
                ("image",),
            ),
            ServicePlan("auth", "auth", "http", "none", None, None),
        ),
    )


def _result(ok: bool) -> DeployResult:
    r = DeployResult("staging", "ecotrack-staging", "local", _plan(), False, "now")
    r.outcomes = [
        Outcome(
            "waste",
            "roll",
            "1.2.0",
            "1.3.0",
            12.0,
            "ok" if ok else "failed",
            "" if ok else "waste-3 is unhealthy\nlast log lines",
        )
    ]
    r.duration = 12.5
    return r


def test_reporter_announces_start_rollback_and_failure(receiver):
    r = receiver(200)
    n = notify.Notifier(WebhookUrl(r.url), FAST)
    rep = notify.NotifyingReporter(n, "staging", "ecotrack-staging", commit="c" * 40)
    rep.plan(_plan())
    rep.step("waste", "start_new", "2 new")
    rep.step("waste", "abort", "removed 2 new (waste-3, waste-4); 2 old keep serving")
    rep.step("waste", "abort", "restarted")  # a second abort line: one notice
    rep.result(_result(ok=False))
    texts = [p["text"] for p in r.payloads]
    assert texts == [
        "[staging] deploy started: 1 service(s): waste",
        "[staging] automatic rollback: waste: new containers removed, the previous "
        "version keeps serving",
        "[staging] deploy failed: waste failed; the old containers keep serving",
    ]
    assert "waste-3 is unhealthy" in r.payloads[2]["blocks"][1]["text"]["text"]
    assert "last log lines" not in json.dumps(r.payloads[2])


def test_reporter_success_and_dry_run(receiver):
    r = receiver(200)
    n = notify.Notifier(WebhookUrl(r.url), FAST)
    notify.NotifyingReporter(n, "staging", "p", dry_run=True).plan(_plan())
    assert r.payloads == []
    rep = notify.NotifyingReporter(n, "staging", "p")
    rep.result(_result(ok=True))
    assert r.payloads[0]["text"] == "[staging] deploy succeeded: waste in 12s"


def test_failing_webhook_does_not_break_the_reporter(receiver):
    r = receiver(500)
    warnings: list[str] = []
    n = notify.Notifier(WebhookUrl(r.url), FAST, warn=warnings.append)
    rep = notify.NotifyingReporter(n, "staging", "p")
    rep.plan(_plan())
    rep.result(_result(ok=True))
    assert len(warnings) == 2
