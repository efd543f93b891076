from release.engine.results import DeployResult, Outcome
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
