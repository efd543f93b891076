import sys
import zipfile
from importlib.resources import files

import pytest
from fastapi.testclient import TestClient

from common.settings import Settings
from locations_service.dataset import load_points
from locations_service.main import create_app

UTRECHT_CENTRAAL = {"lat": 52.0894, "lon": 5.1101}


@pytest.fixture
def client(tmp_path):
    settings = Settings(
        service_name="locations", database_path=str(tmp_path / "locations.db")
    )
    return TestClient(create_app(settings))


def test_dataset_loads_from_package_resources():
    points = load_points()
    assert len(points) >= 15
    assert {p.id[:3] for p in points} == {"ams", "utr", "rtm"}
    assert all(p.accepts for p in points)


def test_nearest_defaults_to_five_sorted_by_distance(client):
    response = client.get("/points/nearest", params=UTRECHT_CENTRAAL)
    assert response.status_code == 200
    body = response.json()
    assert len(body) == 5
    distances = [p["distance_km"] for p in body]
    assert distances == sorted(distances)
    assert all(p["id"].startswith("utr-") for p in body)
    assert set(body[0]) == {
        "id",
        "name",
        "address",
        "accepts",
        "lat",
        "lon",
        "distance_km",
    }


@pytest.mark.parametrize("limit, expected", [(1, 1), (20, 20), (50, 20)])
def test_limit(client, limit, expected):
    params = {**UTRECHT_CENTRAAL, "limit": limit}
    assert len(client.get("/points/nearest", params=params).json()) == expected


def test_exact_location_has_zero_distance(client):
    params = {"lat": 51.9105, "lon": 4.4450, "limit": 1}
    (point,) = client.get("/points/nearest", params=params).json()
    assert (point["id"], point["distance_km"]) == ("rtm-03", 0.0)


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"lat": 90.1, "lon": 0}, id="lat-high"),
        pytest.param({"lat": -91, "lon": 0}, id="lat-low"),
        pytest.param({"lat": 0, "lon": 181}, id="lon-high"),
        pytest.param({"lat": 0, "lon": -180.5}, id="lon-low"),
        pytest.param({"lat": "nan", "lon": 0}, id="lat-nan"),
        pytest.param({"lat": 0, "lon": "inf"}, id="lon-inf"),
        pytest.param({"lat": "north", "lon": 0}, id="lat-text"),
        pytest.param({"lon": 0}, id="lat-missing"),
        pytest.param({"lat": 0, "lon": 0, "limit": 0}, id="limit-zero"),
        pytest.param({"lat": 0, "lon": 0, "limit": 51}, id="limit-high"),
        pytest.param({"lat": 0, "lon": 0, "limit": 2.5}, id="limit-float"),
    ],
)
def test_invalid_query_is_422(client, params):
    response = client.get("/points/nearest", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_ops_endpoints(client):
    assert client.get("/health/live").json() == {"status": "ok"}
    assert client.get("/health/ready").json() == {"status": "ready"}
    assert client.get("/version").json()["service"] == "locations"
    client.get("/points/nearest", params=UTRECHT_CENTRAAL)
    assert 'route="/points/nearest",status="200"' in client.get("/metrics").text


def test_dataset_loads_from_a_zip_archive(tmp_path, monkeypatch):
    # A zipped PEX has no real files next to __file__; importlib.resources copes.
    archive = tmp_path / "bundle.zip"
    payload = (files("locations_service") / "data" / "points.json").read_bytes()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("zipped_locations/__init__.py", "")
        bundle.writestr("zipped_locations/data/points.json", payload)
    monkeypatch.syspath_prepend(str(archive))
    try:
        assert load_points("zipped_locations") == load_points()
    finally:
        sys.modules.pop("zipped_locations", None)
