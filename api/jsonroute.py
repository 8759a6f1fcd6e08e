"""A route class whose request bodies are parsed by orjson, and which ends the
request's database session (commit on success, rollback on error) before the
response is sent.

orjson is strict JSON: ``NaN``, ``Infinity`` and ``-Infinity`` (which Python's
``json`` accepts) are rejected as malformed, so they can never reach a coordinate
or an amount. It is also several times faster on large batches.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from api.deps import end_request_session


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = orjson.loads(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            strict = StrictJSONRequest(request.scope, request.receive)
            try:
                response = await handler(strict)
            except BaseException:
                await end_request_session(strict, ok=False)
                raise
            await end_request_session(strict, ok=True)
            return response

        return strict_handler
