import math

import pytest

from core.geo import Point, haversine_km, nearest

AMSTERDAM = Point(52.3676, 4.9041)
ROTTERDAM = Point(51.9244, 4.4777)
UTRECHT = Point(52.0907, 5.1214)


@pytest.mark.parametrize(
    "lat, lon",
    [
        pytest.param(91, 0, id="lat-high"),
        pytest.param(-90.0001, 0, id="lat-low"),
        pytest.param(0, 180.5, id="lon-high"),
        pytest.param(0, -181, id="lon-low"),
        pytest.param(math.nan, 0, id="lat-nan"),
        pytest.param(0, math.inf, id="lon-inf"),
    ],
)
def test_invalid_points_rejected(lat, lon):
    with pytest.raises(ValueError):
        Point(lat, lon)


@pytest.mark.parametrize(
    "lat, lon", [(90, 180), (-90, -180), (0, 0)], ids=["max", "min", "origin"]
)
def test_boundary_points_accepted(lat, lon):
    assert Point(lat, lon).lat == lat


@pytest.mark.parametrize(
    "a, b, expected_km",
    [
        pytest.param(AMSTERDAM, AMSTERDAM, 0.0, id="same-point"),
        pytest.param(AMSTERDAM, ROTTERDAM, 57.2, id="ams-rtm"),
        pytest.param(Point(0, 0), Point(0, 1), 111.2, id="one-degree-equator"),
        pytest.param(Point(0, 0), Point(0, 180), 20015.1, id="antipodes"),
        pytest.param(Point(0, 179.5), Point(0, -179.5), 111.2, id="antimeridian"),
    ],
)
def test_haversine(a, b, expected_km):
    assert haversine_km(a, b) == pytest.approx(expected_km, abs=0.1)
    assert haversine_km(a, b) == pytest.approx(haversine_km(b, a))


def test_nearest_sorted_and_limited():
    points = [ROTTERDAM, UTRECHT, AMSTERDAM]
    result = nearest(AMSTERDAM, points, limit=2)
    assert [item for _, item in result] == [AMSTERDAM, UTRECHT]
    assert result[0][0] == 0.0
    assert result[0][0] <= result[1][0]


def test_nearest_with_key_and_stable_ties():
    items = [("b", AMSTERDAM), ("a", AMSTERDAM), ("far", ROTTERDAM)]
    result = nearest(AMSTERDAM, items, limit=10, key=lambda item: item[1])
    assert [name for _, (name, _) in result] == ["b", "a", "far"]


@pytest.mark.parametrize("limit, expected", [(0, 0), (1, 1), (99, 3)])
def test_nearest_limit(limit, expected):
    assert len(nearest(UTRECHT, [AMSTERDAM, ROTTERDAM, UTRECHT], limit)) == expected


def test_nearest_negative_limit():
    with pytest.raises(ValueError):
        nearest(UTRECHT, [], -1)
