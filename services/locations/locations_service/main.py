"""Locations service: nearest recycling drop-off points."""

from typing import Annotated

from fastapi import FastAPI, Query
from pydantic import BaseModel

from common.db import check_writable
from common.http import create_base_app
from common.settings import Settings
from core.geo import Point, nearest
from locations_service.dataset import RecyclingPoint, load_points
from locations_service.version import VERSION


class NearbyPoint(BaseModel):
    id: str
    name: str
    address: str
    accepts: list[str]
    lat: float
    lon: float
    distance_km: float


def create_app(settings: Settings | None = None) -> FastAPI:
    if settings is None:
        settings = Settings.from_env("locations")
    # Loaded once at startup: a broken dataset fails the deploy, not a request.
    points = load_points()

    def ready_check() -> None:
        if not points:
            raise RuntimeError("dataset not loaded")
        check_writable(settings.database_path)

    app = create_base_app("locations", VERSION, settings, ready_check)

    @app.get("/points/nearest", response_model=list[NearbyPoint], tags=["locations"])
    def nearest_points(
        lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False)],
        lon: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False)],
        limit: Annotated[int, Query(ge=1, le=50)] = 5,
    ) -> list[NearbyPoint]:
        origin = Point(lat, lon)
        ranked = nearest(origin, points, limit, key=lambda p: p.location)
        return [_out(point, distance) for distance, point in ranked]

    return app


def _out(point: RecyclingPoint, distance_km: float) -> NearbyPoint:
    return NearbyPoint(
        id=point.id,
        name=point.name,
        address=point.address,
        accepts=list(point.accepts),
        lat=point.location.lat,
        lon=point.location.lon,
        distance_km=round(distance_km, 3),
    )
