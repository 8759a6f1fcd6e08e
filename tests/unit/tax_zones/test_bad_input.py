"""Bad input: ocean, out-of-range and NaN coordinates, unknown ZIP codes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tax_zones.errors import InvalidLocationError
from tax_zones.jurisdictions import JurisdictionResolver, Status
from tax_zones.types import LatLng


class TestNoJurisdiction:
    @pytest.mark.parametrize(
        ("lat", "lng"), [(35.0, -140.0), (30.0, -60.0), (0.0, 0.0), (25.0, -89.0)]
    )
    def test_ocean_point_is_no_jurisdiction_not_zero(
        self, resolver: JurisdictionResolver, lat: float, lng: float
    ) -> None:
        res = resolver.resolve(LatLng(lat, lng), 50.0)
        assert res.status is Status.NO_JURISDICTION
        assert res.jurisdictions == ()
        assert res.candidates == ()
        assert res.notes

    def test_offshore_disc_reaching_land_keeps_sea_out_of_the_shares(
        self, resolver: JurisdictionResolver
    ) -> None:
        # 2 km off Ocean City MD, 5 km radius: part sea, part Worcester County
        res = resolver.resolve(LatLng(38.336, -75.04), 5000.0)
        assert res.status is Status.RESOLVED
        assert 0.0 < res.outside_share < 1.0
        assert sum(c.share for c in res.candidates) == pytest.approx(1.0)


class TestInvalidCoordinates:
    @pytest.mark.parametrize(
        ("lat", "lng", "field"),
        [
            (91.0, 0.0, "lat"),
            (math.nan, 0.0, "lat"),
            (0.0, 181.0, "lng"),
            (0.0, math.inf, "lng"),
            (-90.5, 10.0, "lat"),
        ],
    )
    def test_latlng_rejects_and_names_the_field(
        self, lat: float, lng: float, field: str
    ) -> None:
        with pytest.raises(InvalidLocationError, match=field):
            LatLng(lat, lng)

    def test_batch_names_the_item_and_field(
        self, resolver: JurisdictionResolver
    ) -> None:
        with pytest.raises(InvalidLocationError, match=r"items\[1\]\.lat"):
            resolver.resolve_many(
                np.array([40.0, 91.0]), np.array([-100.0, 0.0]), np.array([10.0, 10.0])
            )
        with pytest.raises(InvalidLocationError, match=r"items\[0\]\.accuracy_m"):
            resolver.resolve_many(
                np.array([40.0]), np.array([-100.0]), np.array([np.nan])
            )

    def test_invalid_location_is_a_value_error(self) -> None:
        with pytest.raises(ValueError, match="lat"):
            LatLng(float("nan"), 0.0)
