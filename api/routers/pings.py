"""Location pings, device consent and erasure, and stored geofence events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import APIRouter, Body, Depends, Path, Query, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from api.auth import Principal, require
from api.deps import DeviceServiceDep, PingServiceDep
from api.errors import ApiError
from api.jsonroute import StrictJSONRoute
from api.schemas.geo import (
    ConsentBatchIn,
    ConsentIn,
    IpOut,
    PingBatchIn,
    PingBatchOut,
    PingIn,
    PingOut,
    StoredEventOut,
)
from geoengine.pings_columnar import PingBatchResult, PingColumns, columns_from_json
from geoengine.repository import Consent
from geoengine.service import (
    PingInput,
    columns_from_inputs,
    flag_names,
    source_names,
)
from geoengine.types import FenceEvent, IpLocation, IpStatus

_M = TypeVar("_M", bound=BaseModel)

router = APIRouter(prefix="/v1", tags=["pings"], route_class=StrictJSONRoute)
Device = Annotated[Principal, Depends(require("device"))]
DeviceIdPath = Annotated[
    str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:@-]+$")
]


# Models that request bodies name by reference; the app adds them to the components.
REFERENCED_MODELS: tuple[type[BaseModel], ...] = (PingIn,)


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The request body's OpenAPI entry, for routes that validate it themselves."""
    if model in REFERENCED_MODELS:
        schema: dict[str, Any] = {"$ref": f"#/components/schemas/{model.__name__}"}
    else:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schema.pop("$defs", None)
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }


_ATTRIBUTION = IpOut.model_fields["attribution"].default
_REFUSED = {
    "status": "refused",
    "reason": "no_location_consent",
    "position": None,
    "accuracy_m": None,
    "sources": (),
    "flags": (),
    "events": (),
    "ip": None,
    "offers": (),
}


def _event(e: FenceEvent) -> dict[str, Any]:
    return {
        "event_id": e.event_id,
        "fence_id": e.fence_id,
        "kind": e.kind.value,
        "ts": datetime.fromtimestamp(e.ts_s, UTC),
        "probability": round(e.probability, 4),
    }


def _ip(loc: IpLocation) -> dict[str, Any]:
    return {
        "status": loc.status.value,
        "city": loc.city,
        "country_code": loc.country_code,
        "radius_m": loc.radius_m if loc.status is IpStatus.FOUND else None,
        "attribution": _ATTRIBUTION,
    }


def _results(res: PingBatchResult) -> list[dict[str, Any]]:
    """The ``PingOut`` objects of a batch, built from its arrays."""
    accepted = res.accepted.tolist()
    lat, lng, acc = res.lat.tolist(), res.lng.tolist(), res.accuracy_m.tolist()
    sources, flags = res.sources.tolist(), res.flags.tolist()
    events, ips, offers = res.events, res.ip_locations, res.offers
    out: list[dict[str, Any]] = []
    append = out.append
    for i, ok in enumerate(accepted):
        if not ok:
            append(_REFUSED)
            continue
        has = lat[i] == lat[i]  # not NaN
        append(
            {
                "status": "accepted",
                "reason": None,
                "position": {"lat": lat[i], "lon": lng[i]} if has else None,
                "accuracy_m": round(acc[i], 2) if has else None,
                "sources": source_names(sources[i]),
                "flags": flag_names(flags[i]),
                "events": [_event(e) for e in events[i]] if i in events else (),
                "ip": _ip(ips[i]) if i in ips else None,
                "offers": [o.to_json() for o in offers[i]] if i in offers else (),
            }
        )
    return out


def _json(content: Any) -> Response:
    return Response(
        orjson.dumps(content, option=orjson.OPT_UTC_Z), media_type="application/json"
    )


def _validated(body: Any) -> PingColumns:
    """Columns of a batch body: the fast path, else the schema's exact verdict."""
    if type(body) is dict and body.keys() == {"pings"} and type(body["pings"]) is list:
        cols = columns_from_json(body["pings"])
        if cols is not None:
            return cols
    model = _exact(PingBatchIn, body)
    return columns_from_inputs([_input(p) for p in model.pings])


def _validated_one(body: Any) -> PingColumns:
    """One ping's columns (``PingIn`` validates one object faster than the batch's
    column checks, whose cost is per column)."""
    return columns_from_inputs([_input(_exact(PingIn, body))])


def _exact(model: type[_M], body: Any) -> _M:
    """``body`` validated by ``model``; errors as FastAPI reports body errors."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise RequestValidationError(
            [
                {**err, "loc": ("body", *err.get("loc", ()))}
                for err in exc.errors(include_url=False)
            ]
        ) from None


def _input(p: PingIn) -> PingInput:
    return PingInput(
        p.device_id,
        p.timestamp,
        p.lat,
        p.lon,
        p.accuracy_m,
        p.ip,
        p.speed_mps,
        p.heading_deg,
        p.mocked,
    )


@router.post("/pings", response_model=PingOut, openapi_extra=_body_schema(PingIn))
async def ping(
    _: Device,
    svc: PingServiceDep,
    body: Annotated[Any, Body(include_in_schema=False)] = None,
) -> Response:
    """One ping, validated as ``PingIn``."""
    res = await svc.ingest_columns(_validated_one(body))
    if not res.accepted[0]:
        raise ApiError(
            403,
            "Consent required",
            "this device has no recorded location consent for the tenant; "
            "nothing was stored",
            field="device_id",
            reason="no_location_consent",
        )
    return _json(_results(res)[0])


@router.post(
    "/pings/batch",
    response_model=PingBatchOut,
    openapi_extra=_body_schema(PingBatchIn),
)
async def ping_batch(
    _: Device,
    svc: PingServiceDep,
    body: Annotated[Any, Body(include_in_schema=False)] = None,
) -> Response:
    """Up to 10,000 pings; validated column by column (same rules as ``PingIn``)."""
    res = await svc.ingest_columns(_validated(body))
    return _json({"results": _results(res)})


@router.put("/devices/{device_id}/consent", status_code=204)
async def set_consent(
    device_id: DeviceIdPath, body: ConsentIn, _: Device, svc: DeviceServiceDep
) -> Response:
    await svc.set_consents([(device_id, Consent(body.location, body.marketing))])
    return Response(status_code=204)


@router.post("/devices/consent/batch", status_code=204)
async def set_consents(
    body: ConsentBatchIn, _: Device, svc: DeviceServiceDep
) -> Response:
    await svc.set_consents(
        [(i.device_id, Consent(i.location, i.marketing)) for i in body.items]
    )
    return Response(status_code=204)


@router.delete("/devices/{device_id}", summary="Erase a device everywhere")
async def erase_device(
    device_id: DeviceIdPath, _: Device, svc: DeviceServiceDep
) -> dict[str, int]:
    return await svc.erase(device_id)


@router.get("/events", response_model=list[StoredEventOut])
async def events(
    _: Device,
    svc: DeviceServiceDep,
    device_id: str | None = None,
    fence_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[StoredEventOut]:
    rows = await svc.events(
        device_id=device_id, fence_id=fence_id, start=start, end=end, limit=limit
    )
    return [StoredEventOut(**r) for r in rows]
