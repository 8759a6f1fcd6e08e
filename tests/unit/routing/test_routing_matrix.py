import json

import httpx
import numpy as np
import pytest

from routing.errors import MatrixError
from routing.matrix import (
    CachedProvider,
    GreatCircleProvider,
    InMemoryMatrixCache,
    OsrmTableProvider,
    SpeedProfile,
    TravelMatrix,
    haversine_matrix_m,
    matrix_cache_key,
)
from routing.types import LatLng

PARIS = LatLng(48.8566, 2.3522)
LONDON = LatLng(51.5074, -0.1278)


class TestHaversine:
    def test_paris_london(self):
        m = haversine_matrix_m([PARIS, LONDON])
        assert m[0, 1] == pytest.approx(343_500, rel=0.005)
        assert m[0, 1] == m[1, 0]
        assert m[0, 0] == 0

    def test_antimeridian_is_short(self):
        m = haversine_matrix_m([LatLng(0, 179.9), LatLng(0, -179.9)])
        assert m[0, 1] == pytest.approx(22_239, rel=0.01)


class TestGreatCircleProvider:
    def test_integer_metres_and_seconds(self):
        m = GreatCircleProvider(detour_factor=1.5).matrix([PARIS, LONDON])
        assert float(m.distance_m[0, 1]).is_integer()
        assert float(m.duration_s[0, 1]).is_integer()
        # long trip at cruise speed 60 km/h
        assert m.duration_s[0, 1] == pytest.approx(
            m.distance_m[0, 1] / (60 / 3.6), abs=1
        )

    def test_speed_profile_bands(self):
        p = SpeedProfile(cruise_kmh=100, bands=((1000.0, 36.0),))
        got = p.duration_s(np.array([500.0, 10_000.0]))
        assert list(got) == [50.0, 360.0]

    def test_rejects_detour_below_one(self):
        with pytest.raises(ValueError, match="detour_factor"):
            GreatCircleProvider(detour_factor=0.5).matrix([PARIS])


class TestTravelMatrix:
    def test_shape_and_values_checked(self):
        with pytest.raises(MatrixError):
            TravelMatrix(np.zeros((2, 3)), np.zeros((2, 3)))
        with pytest.raises(MatrixError, match="NaN"):
            TravelMatrix(np.array([[0, np.nan], [1, 0]]), np.zeros((2, 2)))
        with pytest.raises(MatrixError, match="negative"):
            TravelMatrix(np.array([[0, -1], [1, 0]]), np.zeros((2, 2)))

    def test_read_only_and_take(self):
        m = TravelMatrix(np.arange(9.0).reshape(3, 3), np.zeros((3, 3)))
        with pytest.raises(ValueError):
            m.distance_m[0, 0] = 5
        assert m.take([2, 0]).distance_m.tolist() == [[8.0, 6.0], [2.0, 0.0]]


def _osrm_handler(calls: list[httpx.Request], body: dict):
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, content=json.dumps(body))

    return handler


class TestOsrmTableProvider:
    def test_parses_table_and_builds_url(self):
        calls: list[httpx.Request] = []
        body = {
            "code": "Ok",
            "durations": [[0, 100.4], [98.2, 0]],
            "distances": [[0, 1500.6], [1490.2, 0]],
        }
        client = httpx.Client(transport=httpx.MockTransport(_osrm_handler(calls, body)))
        m = OsrmTableProvider("http://router:5000/", client=client).matrix(
            [PARIS, LONDON]
        )
        assert m.distance_m.tolist() == [[0, 1501], [1490, 0]]
        assert m.duration_s.tolist() == [[0, 101], [99, 0]]
        url = str(calls[0].url)
        assert url.startswith(
            "http://router:5000/table/v1/driving/2.352200,48.856600;-0.127800,51.507400"
        )
        assert calls[0].url.params["annotations"] == "duration,distance"

    def test_unreachable_pair_is_an_error(self):
        body = {
            "code": "Ok",
            "durations": [[0, None], [1, 0]],
            "distances": [[0, None], [1, 0]],
        }
        client = httpx.Client(transport=httpx.MockTransport(_osrm_handler([], body)))
        with pytest.raises(MatrixError, match="no route from point 0 to point 1"):
            OsrmTableProvider("http://r", client=client).matrix([PARIS, LONDON])

    def test_error_code_and_http_error(self):
        client = httpx.Client(
            transport=httpx.MockTransport(_osrm_handler([], {"code": "InvalidQuery"}))
        )
        with pytest.raises(MatrixError, match="InvalidQuery"):
            OsrmTableProvider("http://r", client=client).matrix([PARIS, LONDON])
        down = httpx.Client(
            transport=httpx.MockTransport(lambda r: httpx.Response(503, content=b"x"))
        )
        with pytest.raises(MatrixError, match="request failed"):
            OsrmTableProvider("http://r", client=down).matrix([PARIS, LONDON])


class TestCache:
    def test_key_rounds_coordinates(self):
        a = matrix_cache_key([LatLng(1.0000001, 2.0)], "osrm")
        b = matrix_cache_key([LatLng(1.0000004, 2.0)], "osrm")
        c = matrix_cache_key([LatLng(1.0001, 2.0)], "osrm")
        assert a == b != c
        assert a != matrix_cache_key([LatLng(1.0000001, 2.0)], "great-circle")

    def test_cached_provider_asks_once(self):
        calls = []

        class Counting:
            name = "count"

            def matrix(self, points):
                calls.append(len(points))
                return GreatCircleProvider().matrix(points)

        cache = InMemoryMatrixCache()
        p = CachedProvider(Counting(), cache)
        first = p.matrix([PARIS, LONDON])
        second = p.matrix([PARIS, LONDON])
        assert calls == [2]
        assert second is first
