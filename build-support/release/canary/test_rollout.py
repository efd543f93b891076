"""The canary's numbers and its decision (pure)."""

from __future__ import annotations

import pytest

from release.adapters.proxy import parse_counts
from release.canary.judge import judge
from release.model.proxy import Counts
from release.model.service_metrics import ServiceMetrics

HEADER = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,"
    "eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,"
    "qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,"
    "check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,"
    "hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot"
)


def row(server, status, h2xx, h5xx, econ=0, eresp=0, h4xx=0):
    cells = {c: "" for c in HEADER[2:].split(",")}
    cells.update(
        pxname="recycling",
        svname=server,
        status=status,
        econ=str(econ),
        eresp=str(eresp),
        hrsp_2xx=str(h2xx),
        hrsp_4xx=str(h4xx),
        hrsp_5xx=str(h5xx),
        hrsp_1xx="0",
    )
    return ",".join(cells[c] for c in HEADER[2:].split(","))


def test_parse_counts_per_server():
    text = "\n".join(
        [
            HEADER,
            row("recycling1", "UP", 100, 0),
            row("recycling3", "UP", 40, 9, econ=1, h4xx=3),
            row("BACKEND", "UP", 140, 9),
        ]
    )
    counts = parse_counts(text)
    assert counts[("recycling", "recycling1")] == Counts(100, 0, "UP")
    assert counts[("recycling", "recycling3")] == Counts(53, 10, "UP")
    assert ("recycling", "BACKEND") not in counts
    assert parse_counts("") == {} and parse_counts("garbage") == {}


def test_counts_arithmetic():
    a, b = Counts(10, 1, "UP"), Counts(30, 2, "UP")
    assert (a + b).requests == 40 and b.since(a) == Counts(20, 1, "UP")
    assert Counts().error_rate == 0 and b.error_rate == pytest.approx(2 / 30)


OWN_BAD = ServiceMetrics(requests=20, errors=20)


@pytest.mark.parametrize(
    "proxy, own, elapsed, unhealthy, done, promote, words",
    [
        pytest.param(Counts(5, 0), None, 3, "", False, False, "", id="watching"),
        pytest.param(
            Counts(12, 3), None, 3, "", True, False, "over", id="errors-abort-early"
        ),
        pytest.param(
            Counts(5, 3), None, 3, "", False, False, "", id="too-few-to-judge-yet"
        ),
        pytest.param(
            Counts(40, 0), OWN_BAD, 3, "", True, False, "its /metrics", id="own-5xx"
        ),
        pytest.param(Counts(100, 1), None, 60, "", True, True, "within", id="promote"),
        pytest.param(
            Counts(3, 0), None, 60, "", True, False, "inconclusive", id="no-traffic"
        ),
        pytest.param(
            Counts(50, 0),
            None,
            5,
            "canary x turned unhealthy",
            True,
            False,
            "unhealthy",
            id="unhealthy",
        ),
    ],
)
def test_judge(proxy, own, elapsed, unhealthy, done, promote, words):
    v = judge(proxy, own, elapsed, 60, 0.01, 10, unhealthy)
    assert (v.done, v.promote) == (done, promote)
    assert words in v.reason


def test_an_abort_by_the_verdict_differs_and_any_other_abort_fails():
    from release.canary.rollout import ABORTED, PROMOTED, CanaryResult

    verdict = CanaryResult("prod", "ecotrack-prod", "waste", ABORTED, by_verdict=True)
    broken = CanaryResult("prod", "ecotrack-prod", "waste", ABORTED)
    done = CanaryResult("prod", "ecotrack-prod", "waste", PROMOTED)
    assert (verdict.exit_code, broken.exit_code, done.exit_code) == (3, 1, 0)
    assert verdict.to_dict()["by_verdict"] and not broken.to_dict()["by_verdict"]
