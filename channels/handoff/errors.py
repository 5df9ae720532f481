"""The store's refusals: a machine code, a human message and optional details."""

from __future__ import annotations

from typing import Any


class HandoffError(Exception):
    """A refused request: `code` is machine-readable, `status` the HTTP status."""

    status = 400

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.details}


class BadRequest(HandoffError):
    status = 400


class Unauthorized(HandoffError):
    status = 401


class Forbidden(HandoffError):
    status = 403


class NotFound(HandoffError):
    status = 404


class Conflict(HandoffError):
    status = 409


class PayloadTooLarge(HandoffError):
    status = 413


class TooManyRequests(HandoffError):
    status = 429

    @classmethod
    def over(cls, limit: int) -> TooManyRequests:
        return cls("rate_limited", f"More than {limit} requests a second; slow down.", retry_after_s=1)


class Unavailable(HandoffError):
    status = 503
