"""Base classes for request and response schemas."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    """Strict request bodies: unknown fields rejected, no NaN/Infinity in floats."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
