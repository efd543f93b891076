import pytest
from fastapi.testclient import TestClient

from common.settings import Settings
from waste_service.main import create_app
from waste_service.worker import run_once


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "waste.db")


@pytest.fixture
def client(db_path):
    return TestClient(create_app(Settings(service_name="waste", database_path=db_path)))


@pytest.mark.parametrize(
    "description, category",
    [
        pytest.param("Plastic yogurt cup", "plastic", id="plastic"),
        pytest.param("old smartphone", "electronic", id="electronic"),
        pytest.param("???", "residual", id="unknown"),
    ],
)
def test_classify(client, description, category):
    response = client.post("/classify", json={"description": description})
    assert response.status_code == 200
    body = response.json()
    assert body["category"] == category
    assert 0.0 <= body["confidence"] <= 1.0
    assert isinstance(body["matched_keywords"], list)


@pytest.mark.parametrize("path", ["/classify", "/jobs"], ids=["classify", "jobs"])
@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"description": ""}, id="empty"),
        pytest.param({"description": "x" * 201}, id="too-long"),
        pytest.param({"description": 42}, id="wrong-type"),
        pytest.param({}, id="missing"),
        pytest.param(None, id="null-body"),
    ],
)
def test_invalid_description_is_422(client, path, payload):
    response = client.post(path, json=payload)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_job_lifecycle(client, db_path):
    response = client.post("/jobs", json={"description": "empty wine bottle"})
    assert response.status_code == 202
    created = response.json()
    assert created["status"] == "queued"
    assert response.headers["location"] == f"/jobs/{created['id']}"

    job = client.get(f"/jobs/{created['id']}").json()
    assert (job["status"], job["result"]) == ("queued", None)

    assert run_once(db_path) is True
    assert run_once(db_path) is False  # queue drained

    job = client.get(f"/jobs/{created['id']}").json()
    assert job["status"] == "done"
    assert job["result"]["category"] == "glass"
    assert job["result"]["matched_keywords"] == ["wine bottle"]


@pytest.mark.parametrize("job_id", ["0" * 32, "nope", "x" * 64], ids=str)
def test_unknown_job_is_404(client, job_id):
    response = client.get(f"/jobs/{job_id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "job_not_found"


def test_overlong_job_id_is_422(client):
    assert client.get("/jobs/" + "x" * 65).status_code == 422


def test_ops_endpoints(client):
    assert client.get("/health/live").json() == {"status": "ok"}
    assert client.get("/health/ready").json() == {"status": "ready"}
    assert client.get("/version").json()["version"] == "1.0.0"
    client.post("/classify", json={"description": "can"})
    assert 'route="/classify"' in client.get("/metrics").text
