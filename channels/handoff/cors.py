"""Rasa's CORS middleware (Sanic-CORS), made cheap for requests no browser sent.

The handoff's API marks a request without an `Origin` header as evaluated (nothing
for a browser to read: `http.api`). Sanic-CORS's response middleware would still run
as a coroutine per request and log that it skips; behind `lighten_cors` a marked
request passes at once, and every other request gets the middleware as before."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sanic import Sanic
from sanic.request import Request
from sanic_cors.core import SANIC_CORS_EVALUATED
from sanic_cors.extension import unapplied_cors_response_middleware


def lighten_cors(app: Sanic) -> int:
    """Puts Sanic-CORS's response middleware behind the mark; returns how many it found."""
    found = 0
    for index, middleware in enumerate(app.response_middleware):
        if getattr(middleware, "func", None) is unapplied_cors_response_middleware:
            app.response_middleware[index] = CorsUnlessEvaluated(middleware)  # type: ignore[arg-type]
            found += 1
    return found


class CorsUnlessEvaluated:
    """Sanic-CORS's response middleware, for requests not marked evaluated."""

    def __init__(self, middleware: Callable[[Request, Any], Any]) -> None:
        self.middleware = middleware

    def __call__(self, request: Request, response: Any) -> Any:
        if getattr(request.ctx, SANIC_CORS_EVALUATED, None):
            return None  # Sanic keeps the response as it is
        return self.middleware(request, response)
