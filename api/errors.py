"""RFC 9457 problem+json for every error, and the domain-error -> status table.

Domain errors carry no HTTP status; ``STATUS_BY_ERROR`` maps their classes (looked up
along the MRO, so a group maps all its members) and one handler renders them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import InterfaceError as DBInterfaceError
from sqlalchemy.exc import OperationalError as DBOperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from api.context import request_id_var

log = logging.getLogger("geocommerce.api")

PROBLEM_JSON = "application/problem+json"

# Domain error class -> HTTP status (looked up along the MRO: a group maps its members).
STATUS_BY_ERROR: dict[type[BaseException], int] = {}


def register_domain_errors() -> None:
    """Fill ``STATUS_BY_ERROR`` from the domain packages' error hierarchies."""
    from commerce import errors as commerce
    from commerce.service import CommerceNotFoundError, IdempotencyInProgressError
    from geoengine import errors as geo
    from geoengine.service import ConsentRequiredError, ImportTooLargeError
    from routing import errors as route
    from routing.prepositioning_service import (
        PlanNotReadyError,
        PrepositioningPlanNotFoundError,
    )
    from routing.service import PlanNotFoundError, SyncTooLargeError
    from tax_zones import errors as tax
    from tax_zones.service import QuoteNotFoundError, QuoteStateError

    STATUS_BY_ERROR.update(
        {
            route.InvalidProblemError: 422,
            route.InstanceFormatError: 422,
            route.MatrixError: 502,
            route.SolverError: 500,
            PlanNotFoundError: 404,
            SyncTooLargeError: 422,
            route.EmptyHistoryError: 422,
            route.InfeasiblePlacementError: 422,
            route.InvalidWarehouseError: 422,
            PrepositioningPlanNotFoundError: 404,
            PlanNotReadyError: 409,
            tax.TaxInputError: 422,
            tax.NoJurisdictionError: 422,
            tax.PositionUnavailableError: 422,
            tax.AmbiguousJurisdictionError: 409,
            tax.TaxDataError: 500,
            QuoteNotFoundError: 404,
            QuoteStateError: 409,
            geo.InvalidInputError: 422,
            geo.GeometryTooLargeError: 413,
            ImportTooLargeError: 413,
            ConsentRequiredError: 403,
            geo.FenceNotFoundError: 404,
            geo.IpDatabaseError: 503,
            geo.CampaignNotFoundError: 404,
            geo.OfferCodeRejectedError: 422,
            geo.OfferCodeRedeemedError: 409,
            commerce.CommerceInputError: 422,
            commerce.IllegalTransitionError: 409,
            commerce.MoneyRuleError: 409,
            commerce.WebhookSignatureError: 401,
            commerce.UnbalancedEntryError: 500,
            CommerceNotFoundError: 404,
            IdempotencyInProgressError: 409,
        }
    )


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON


class ApiError(Exception):
    """An error raised by the API layer itself, with its status and problem fields."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type_: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_ or f"/problems/{title.lower().replace(' ', '-')}"
        self.headers = headers
        self.extra = extra


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    type_: str = "about:blank",
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> ProblemResponse:
    """Build a problem+json response."""
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    rid = request_id_var.get()
    if rid:
        body["request_id"] = rid
    body.update(extra)
    return ProblemResponse(body, status_code=status, headers=headers)


def field_path(loc: Sequence[Any]) -> str:
    """``("body", "points", 3, 1)`` -> ``"points[3][1]"``; ``("query","x")`` -> ``"x"``."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out or "body"


def validation_problem(
    request: Request, errors: Sequence[dict[str, Any]]
) -> ProblemResponse:
    items = []
    for err in errors:
        reason = str(err.get("msg", "invalid"))
        if err.get("type") == "json_invalid":
            ctx = err.get("ctx") or {}
            reason = f"malformed JSON: {ctx.get('error', reason)}"
        items.append(
            {
                "field": field_path(err.get("loc", ())),
                "reason": reason,
                "type": err.get("type"),
            }
        )
    first = items[0] if items else {"field": "body", "reason": "invalid"}
    return problem(
        422,
        "Validation error",
        f"{first['field']}: {first['reason']}",
        type_="/problems/validation-error",
        instance=request.url.path,
        field=first["field"],
        errors=items,
    )


_FIELD_PREFIX = re.compile(r"^([A-Za-z_][\w.\[\]'\"-]*): ")


def problem_body(exc: Exception, field_prefix: str = "") -> dict[str, Any]:
    """The problem fields of a domain error (status from ``STATUS_BY_ERROR``).

    The field is the error's ``field`` attribute or, by the domain packages'
    convention, the ``name:`` that starts its message.
    """
    status = _status_for(exc) or 500
    extra: dict[str, Any] = (
        exc.problem_fields() if hasattr(exc, "problem_fields") else {}
    )
    field = getattr(exc, "field", None)
    if not isinstance(field, str):
        match = _FIELD_PREFIX.match(str(exc))
        field = match.group(1) if match else None
    if field:
        extra.setdefault("field", f"{field_prefix}.{field}" if field_prefix else field)
    name = type(exc).__name__.removesuffix("Error")
    slug = "".join(f"-{c.lower()}" if c.isupper() else c for c in name).lstrip("-")
    return {
        "type": f"/problems/{slug}",
        "title": slug.replace("-", " ").capitalize(),
        "status": status,
        "detail": str(exc),
        **extra,
    }


def _status_for(exc: BaseException) -> int | None:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return None


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""
    register_domain_errors()

    @app.exception_handler(RequestValidationError)
    async def _validation(
        request: Request, exc: RequestValidationError
    ) -> ProblemResponse:
        return validation_problem(request, exc.errors())

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> ProblemResponse:
        titles = {
            400: "Bad request",
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not found",
            405: "Method not allowed",
            413: "Payload too large",
            415: "Unsupported media type",
        }
        title = titles.get(exc.status_code, "HTTP error")
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem(
            exc.status_code,
            title,
            detail,
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> ProblemResponse:
        return problem(
            exc.status,
            exc.title,
            exc.detail,
            type_=exc.type,
            instance=request.url.path,
            headers=exc.headers,
            **exc.extra,
        )

    async def _domain(request: Request, exc: Exception) -> ProblemResponse:
        body = problem_body(exc)
        return problem(
            body.pop("status"),
            body.pop("title"),
            body.pop("detail"),
            type_=body.pop("type"),
            instance=request.url.path,
            **body,
        )

    # One handler per mapped class, so Starlette's ExceptionMiddleware answers them
    # (the catch-all below runs in ServerErrorMiddleware, which re-raises).
    for cls in STATUS_BY_ERROR:
        app.add_exception_handler(cls, _domain)

    @app.exception_handler(DBOperationalError)
    @app.exception_handler(DBInterfaceError)
    async def _storage_down(request: Request, exc: Exception) -> ProblemResponse:
        """The database went away mid-request (restart, failover, network). The
        change was not committed, unless the failure hit the commit itself: the
        client retries, with the same ``Idempotency-Key`` for payments."""
        log.warning("database unavailable on %s: %s", request.url.path, exc)
        return problem(
            503,
            "Service unavailable",
            "The database is unavailable; retry shortly (payments with the same "
            "Idempotency-Key, which applies them at most once).",
            instance=request.url.path,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    async def _any(request: Request, exc: Exception) -> ProblemResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem(
            500,
            "Internal server error",
            "An unexpected error occurred; quote the request id.",
            instance=request.url.path,
        )
