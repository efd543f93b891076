from release.engine.results import DeployFailed, DeployResult, Outcome
from release.plan.plan import Plan


def result(*outcomes: Outcome, error: str = "") -> DeployResult:
    r = DeployResult(
        "prod", "ecotrack-prod", "", Plan("prod", "ecotrack-prod", ()), False, ""
    )
    r.outcomes = list(outcomes)
    r.error = error
    return r


def test_a_failed_deploy_ends_with_its_first_failed_service():
    r = result(
        Outcome("auth", "roll", "1.0.0", "1.1.0", result="ok"),
        Outcome("waste", "roll", "1.0.0", "1.1.0", result="failed", detail="unhealthy"),
        Outcome("users", "roll", "1.0.0", "1.1.0", result="failed", detail="later"),
    )
    assert [o.service for o in r.failed] == ["waste", "users"]
    assert (r.ok, r.exit_code, r.failure()) == (False, 1, "waste: unhealthy")


def test_a_deploy_stopped_before_any_service_says_why():
    r = result(error="interrupted")
    assert r.failure() == "deploy stopped: interrupted"
    assert result(Outcome("auth", "roll", "a", "b", result="ok")).ok


def test_an_interrupted_deploy_exits_130_and_its_failure_says_so():
    r = result()
    r.error = "interrupted"
    assert r.interrupted and r.exit_code == 130
    assert DeployFailed(r.failure(), r).exit_code == 130
    r.error = "waste: unhealthy"
    assert not r.interrupted and DeployFailed(r.failure(), r).exit_code == 1
