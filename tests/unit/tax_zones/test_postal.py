"""ZIP codes as postal centroids."""

from __future__ import annotations

import pytest

from tax_zones.errors import UnknownZipError
from tax_zones.jurisdictions import JurisdictionResolver, Quality
from tax_zones.postal import POSTAL_CENTROID_RADIUS_M, zip_location


class TestZipLocation:
    def test_known_zip(self) -> None:
        z = zip_location("63101-1234")
        assert (z.zip_code, z.state) == ("63101", "MO")
        assert z.radius_m == POSTAL_CENTROID_RADIUS_M

    @pytest.mark.parametrize("code", ["00000", "99999", "1234", "abcde", ""])
    def test_unknown_or_malformed_zip_names_the_field(self, code: str) -> None:
        with pytest.raises(UnknownZipError, match=r"^zip:"):
            zip_location(code)


class TestResolveZip:
    def test_zip_is_a_postal_centroid_with_radius(
        self, resolver: JurisdictionResolver
    ) -> None:
        res = resolver.resolve_zip("63101")  # downtown St. Louis
        assert res.quality is Quality.POSTAL_CENTROID
        assert res.accuracy_m == POSTAL_CENTROID_RADIUS_M
        assert any("ZIP 63101" in n for n in res.notes)
        assert "29510" in {c.jurisdictions[-1].code for c in res.candidates}
        # a 9.4 km disc downtown crosses into St. Louis County and Illinois
        assert res.ambiguous

    def test_zip_table_county_agrees_with_the_boundaries(
        self, resolver: JurisdictionResolver
    ) -> None:
        res = resolver.resolve_zip("75501")  # Texarkana TX, Bowie County
        assert res.jurisdictions[-1].code == "48037"
        assert any("Bowie County, TX" in n for n in res.notes)
