import pytest

from release.model.live import digest_of, parse_container

D = "sha256:" + "ab" * 32

INSPECT = {
    "Id": "c" * 64,
    "Name": "/ecotrack-local-waste-3",
    "Created": "2026-01-01T00:00:03.5Z",
    "RestartCount": 0,
    "Config": {
        "Image": f"127.0.0.1:5000/ecotrack/waste:main-1@{D}",
        "Env": [
            "JWT_SECRET=never-read",
            "FEATURE_NEW_MODEL=on",
            "FEATURE_=ignored",
            "PATH=/usr/bin",
        ],
        "Labels": {
            "com.docker.compose.project": "ecotrack-local",
            "com.docker.compose.service": "waste",
            "com.docker.compose.container-number": "3",
            "io.ecotrack.version": "1.3.0",
            "io.ecotrack.config-hash": "h",
        },
    },
    "State": {"Status": "running", "ExitCode": 0, "Health": {"Status": "healthy"}},
    "NetworkSettings": {
        "Networks": {
            "other": {"IPAddress": "10.0.0.9"},
            "ecotrack-local_backend": {"IPAddress": "172.20.0.7"},
        },
        "Ports": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
    },
}


def test_parse_container_reads_only_what_the_plan_needs():
    c = parse_container(INSPECT, [])
    assert (c.service, c.number, c.state, c.health) == (
        "waste",
        3,
        "running",
        "healthy",
    )
    assert (c.digest, c.version, c.config_hash) == (D, "1.3.0", "h")
    assert c.flags == {"new_model": "on"}  # and nothing else of the environment
    assert "never-read" not in repr(c)
    assert c.ip == "172.20.0.7" and c.name == "ecotrack-local-waste-3"
    assert c.published == (("127.0.0.1", "8080"),)


def test_a_container_without_health_check_or_labels():
    c = parse_container({"Id": "d" * 64, "State": {"Status": "exited"}}, [])
    assert (c.state, c.health, c.service, c.digest, c.ip) == (
        "exited",
        "none",
        "",
        "",
        "",
    )


def test_digest_from_reference_or_repo_digests():
    assert digest_of(f"r/x:1@{D}", []) == D
    other = "sha256:" + "cd" * 32
    repo_digests = [f"r/y@{other}", f"127.0.0.1:5000/ecotrack/x@{D}"]
    assert digest_of("127.0.0.1:5000/ecotrack/x:v1", repo_digests) == D
    assert digest_of("ecotrack/x:sha-1", []) == ""  # a local build has none


def _log(*entries):
    return {
        "Status": "unhealthy",
        "Log": [{"ExitCode": e, "Output": o} for e, o in entries],
    }


TIMEOUT = "Health check exceeded timeout (3s)"


@pytest.mark.parametrize(
    "health, timed_out",
    [
        pytest.param(
            _log((0, "ok"), (-1, TIMEOUT), (-1, TIMEOUT)), True, id="timeouts"
        ),
        pytest.param(_log((-1, TIMEOUT), (1, "HTTP 500")), False, id="a-failure"),
        pytest.param(
            _log((1, "refused"), (-1, TIMEOUT), (0, "ok")), False, id="passes"
        ),
        pytest.param({}, False, id="no-check"),
    ],
)
def test_a_failing_streak_of_timeouts_alone_is_told_apart(health, timed_out):
    attrs = {**INSPECT, "State": {"Status": "running", "Health": health}}
    assert parse_container(attrs, []).checks_timed_out is timed_out
