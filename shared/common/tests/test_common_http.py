import logging

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from common.errors import ApiError
from common.http import create_base_app
from common.settings import Settings


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=10)


def make_app(ready_check=None, **settings_kwargs):
    settings = Settings(service_name="demo", **settings_kwargs)
    app = create_base_app("demo", "9.9.9", settings, ready_check)

    @app.post("/items", status_code=201)
    def create_item(item: Item):
        return item

    @app.get("/items/{item_id}")
    def get_item(item_id: int):
        raise ApiError(404, "item_not_found", f"no item {item_id}")

    @app.get("/boom")
    def boom():
        raise RuntimeError("kaput")

    return app


@pytest.fixture
def client():
    return TestClient(make_app())


def test_live(client):
    response = client.get("/health/live")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_ready_ok(client):
    assert client.get("/health/ready").json() == {"status": "ready"}


def test_ready_failure_is_503_with_reason():
    def check():
        raise OSError("database file not writable")

    response = TestClient(make_app(ready_check=check)).get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "reason": "database file not writable",
    }


def test_version_includes_build_info_and_flags():
    app = make_app(git_sha="abc", image_tag="v1", feature_flags={"beta": "on"})
    assert TestClient(app).get("/version").json() == {
        "service": "demo",
        "version": "9.9.9",
        "git_sha": "abc",
        "image_tag": "v1",
        "feature_flags": {"beta": "on"},
    }


def test_metrics_count_by_route_template(client):
    client.get("/items/1")
    client.get("/items/2")
    client.get("/nowhere")
    text = client.get("/metrics").text
    assert (
        'http_requests_total{method="GET",route="/items/{item_id}",status="404"} 2.0'
        in text
    )
    assert 'route="unmatched",status="404"' in text
    assert "http_request_duration_seconds_bucket" in text
    assert 'service_info{git_sha="unknown"' in text


def test_each_app_has_its_own_registry():
    first, second = TestClient(make_app()), TestClient(make_app())
    first.get("/health/live")
    assert 'route="/health/live"' in first.get("/metrics").text
    assert 'route="/health/live"' not in second.get("/metrics").text


@pytest.mark.parametrize(
    "method, path, kwargs, status, code",
    [
        pytest.param("GET", "/nope", {}, 404, "not_found", id="unknown-route"),
        pytest.param(
            "DELETE", "/health/live", {}, 405, "method_not_allowed", id="bad-method"
        ),
        pytest.param(
            "POST", "/items", {"json": {"name": ""}}, 422, "validation_error", id="val"
        ),
        pytest.param(
            "POST", "/items", {"json": [1]}, 422, "validation_error", id="wrong-type"
        ),
        pytest.param(
            "POST",
            "/items",
            {"content": b"{oops", "headers": {"content-type": "application/json"}},
            400,
            "invalid_json",
            id="bad-json",
        ),
        pytest.param(
            "POST",
            "/items",
            {
                "content": b'{"name": "\\ud800"}',
                "headers": {"content-type": "application/json"},
            },
            422,
            "validation_error",
            id="lone-surrogate",
        ),
        pytest.param(
            "POST",
            "/items",
            {"content": b"x" * 70_000, "headers": {"content-type": "text/plain"}},
            413,
            "content_too_large",
            id="too-large",
        ),
        pytest.param(
            "POST",
            "/items",
            {
                "content": iter([b'{"name": "', b"x" * 70_000, b'"}']),
                "headers": {"content-type": "application/json"},
            },
            413,
            "content_too_large",
            id="too-large-chunked",
        ),
        pytest.param(
            "GET", "/items/abc", {}, 422, "validation_error", id="bad-path-param"
        ),
        pytest.param("GET", "/items/7", {}, 404, "item_not_found", id="api-error"),
    ],
)
def test_errors_are_json(client, method, path, kwargs, status, code):
    response = client.request(method, path, **kwargs)
    assert response.status_code == status
    body = response.json()
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)


def test_unhandled_exception_is_500_json_and_logged(caplog):
    client = TestClient(make_app())
    with caplog.at_level(logging.ERROR):
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "kaput" not in response.text  # internals are logged, not leaked
    assert any(r.exc_info and "kaput" in str(r.exc_info[1]) for r in caplog.records)
    metrics = client.get("/metrics").text
    assert 'http_request_errors_total{method="GET",route="/boom"} 1.0' in metrics


def test_request_is_logged_with_duration(client, caplog):
    with caplog.at_level(logging.INFO, logger="demo.http"):
        client.post("/items", json={"name": "a"})
    record = next(r for r in caplog.records if r.getMessage() == "request")
    assert (record.method, record.path, record.status) == ("POST", "/items", 201)
    assert record.duration_ms >= 0


def test_every_response_says_which_service_served_it(client):
    for response in (
        client.get("/health/live"),
        client.get("/items/3"),  # an ApiError
        client.get("/nope"),  # a 404 of the router
        client.post("/items", content=b"x" * (70 * 1024)),  # 413 before routing
    ):
        assert response.headers["X-Served-By"] == "demo", response.status_code


def test_an_unhandled_error_is_marked_too():
    response = TestClient(make_app(), raise_server_exceptions=False).get("/boom")
    assert response.status_code == 500
    assert response.headers["X-Served-By"] == "demo"
