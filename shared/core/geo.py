"""Geographic primitives for "nearest drop-off point" queries.

A linear scan with haversine is plenty for a few thousand points; swap in a
spatial index only if the dataset grows by orders of magnitude.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)

T = TypeVar("T")


@dataclass(frozen=True)
class Point:
    lat: float
    lon: float

    def __post_init__(self) -> None:
        # "not (a <= x <= b)" is also true for NaN, which must be rejected too.
        if not -90.0 <= self.lat <= 90.0:
            raise ValueError(f"latitude must be within [-90, 90], got {self.lat}")
        if not -180.0 <= self.lon <= 180.0:
            raise ValueError(f"longitude must be within [-180, 180], got {self.lon}")


def haversine_km(a: Point, b: Point) -> float:
    """Great-circle distance in kilometres."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    # min() guards against rounding pushing h marginally above 1 (antipodes).
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def nearest(
    origin: Point,
    points: Iterable[T],
    limit: int,
    key: Callable[[T], Point] | None = None,
) -> list[tuple[float, T]]:
    """The ``limit`` closest items as ``(distance_km, item)``, closest first.

    ``key`` extracts the location when items are not ``Point`` themselves.
    Ties keep input order, so results are deterministic.
    """
    if limit < 0:
        raise ValueError("limit must be >= 0")
    locate = key or (lambda item: item)  # type: ignore[assignment,return-value]
    scored = (
        (haversine_km(origin, locate(item)), index, item)
        for index, item in enumerate(points)
    )
    return [(dist, item) for dist, _, item in heapq.nsmallest(limit, scored)]
