"""Hand-made resolutions for quote tests (no boundary data needed)."""

from __future__ import annotations

from tax_zones.jurisdictions import Candidate, Policy, Quality, Resolution, Status
from tax_zones.types import JurisdictionRef, Level

US = JurisdictionRef(Level.COUNTRY, "US", "United States")


def us_stack(
    state: str, state_name: str, county: str | None = None, county_name: str = ""
) -> tuple[JurisdictionRef, ...]:
    refs = [US, JurisdictionRef(Level.STATE, state, state_name)]
    if county:
        refs.append(JurisdictionRef(Level.COUNTY, county, county_name))
    return tuple(refs)


def resolved(
    *stacks: tuple[JurisdictionRef, ...],
    status: Status = Status.RESOLVED,
    policy: Policy = Policy.MOST_LIKELY,
) -> Resolution:
    shares = [1.0 / len(stacks)] * len(stacks) if stacks else []
    return Resolution(
        status=status,
        jurisdictions=stacks[0] if stacks else (),
        quality=Quality.ROOFTOP,
        border_distance_m=1000.0,
        ambiguous=len(stacks) > 1,
        candidates=tuple(
            Candidate(s, st) for s, st in zip(shares, stacks, strict=True)
        ),
        policy=policy,
        accuracy_m=10.0,
        boundary_error_m=50.0,
        outside_share=0.0,
        sources=("test boundaries",),
    )
