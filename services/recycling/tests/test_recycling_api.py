import pytest
from fastapi.testclient import TestClient

from common.settings import Settings
from recycling_service.main import create_app

CATEGORIES = [
    "plastic",
    "paper",
    "glass",
    "metal",
    "organic",
    "electronic",
    "hazardous",
    "residual",
]


@pytest.fixture
def client(tmp_path):
    settings = Settings(
        service_name="recycling", database_path=str(tmp_path / "recycling.db")
    )
    return TestClient(create_app(settings))


def test_list_all_guidelines(client):
    response = client.get("/guidelines")
    assert response.status_code == 200
    body = response.json()
    assert [g["category"] for g in body] == CATEGORIES
    for guideline in body:
        assert guideline["bin_colour"]
        assert guideline["instructions"]
        assert isinstance(guideline["recyclable"], bool)


@pytest.mark.parametrize("category", CATEGORIES)
def test_get_one(client, category):
    response = client.get(f"/guidelines/{category}")
    assert response.status_code == 200
    assert response.json()["category"] == category


def test_lookup_is_case_insensitive(client):
    assert client.get("/guidelines/GLASS").json()["bin_colour"] == "green"


def test_hazardous_is_not_recyclable(client):
    assert client.get("/guidelines/hazardous").json()["recyclable"] is False


@pytest.mark.parametrize("category", ["styrofoam", "1", "%F0%9F%A5%A4"])
def test_unknown_category_is_404_json(client, category):
    response = client.get(f"/guidelines/{category}")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "unknown_category"
    assert "plastic" in error["message"]


@pytest.mark.parametrize(
    "method, path, status",
    [("POST", "/guidelines", 405), ("GET", "/guideline", 404)],
    ids=["method", "route"],
)
def test_other_errors_are_json(client, method, path, status):
    response = client.request(method, path)
    assert response.status_code == status
    assert "error" in response.json()


def test_ops_endpoints(client):
    assert client.get("/health/live").json() == {"status": "ok"}
    assert client.get("/health/ready").json() == {"status": "ready"}
    assert client.get("/version").json()["service"] == "recycling"
    assert "http_request_duration_seconds" in client.get("/metrics").text
