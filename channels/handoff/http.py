"""HTTP helpers: errors as JSON with the contract's statuses, and who is calling."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from rasa.core.lock_store import LockError
from redis.exceptions import RedisError
from sanic.request import Request
from sanic.response import HTTPResponse, json
from sanic_cors.core import SANIC_CORS_EVALUATED

from channels.handoff.auth import AgentIdentity, bearer_token, verify_agent_token
from channels.handoff.config import HandoffConfig
from channels.handoff.errors import HandoffError, TooManyRequests, Unauthorized
from channels.handoff.runtime import HandoffRuntime
from channels.handoff.store import Quota

logger = logging.getLogger(__name__)

Handler = TypeVar("Handler", bound=Callable[..., Awaitable[HTTPResponse]])


def error_response(error: HandoffError) -> HTTPResponse:
    retry_after = error.details.get("retry_after_s")
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return json(error.to_dict(), status=error.status, headers=headers)


def api(handler: Handler) -> Handler:
    """Answers refusals with their status, and 503 when Redis (or Rasa's lock) is unavailable."""

    @functools.wraps(handler)
    async def wrapped(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
        if "origin" not in request.headers:
            # Not a browser's cross-origin request: Rasa's CORS middleware would only
            # match the path against its rules to add headers no client reads.
            setattr(request.ctx, SANIC_CORS_EVALUATED, "1")
        try:
            return await handler(request, *args, **kwargs)
        except HandoffError as refused:
            return error_response(refused)
        except RedisError as failure:
            return storage_unavailable(failure)
        except (ConnectionError, TimeoutError) as failure:
            logger.warning("the assistant is unavailable: %r", failure)
            message = "The assistant could not be reached; try again shortly."
            return json({"error": "assistant_unavailable", "message": message}, 503)
        except LockError as busy:
            if isinstance(busy.__cause__, RedisError | OSError):  # Redis, reached for Rasa's lock ticket
                return storage_unavailable(busy.__cause__)
            logger.warning("conversation lock: %r", busy)
            return json({"error": "busy", "message": "The conversation is busy; try again."}, 503)

    return wrapped  # type: ignore[return-value]


def storage_unavailable(failure: BaseException) -> HTTPResponse:
    logger.warning("Redis unavailable: %r", failure)
    return json({"error": "unavailable", "message": "Storage is unavailable; try again shortly."}, 503)


def runtime_of(request: Request) -> HandoffRuntime:
    runtime: HandoffRuntime = request.app.ctx.handoff
    return runtime


def agent_of(request: Request, config: HandoffConfig) -> AgentIdentity:
    """The calling agent, from their token (401 otherwise)."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise Unauthorized("missing_token", "Send the agent token as 'Authorization: Bearer <token>'.")
    return verify_agent_token(config.jwt_secret, token)


def agent_quota(agent: AgentIdentity, config: HandoffConfig) -> Quota:
    return _agent_quota(agent.id, config.agent_requests_per_s)


@functools.lru_cache(maxsize=4096)
def _agent_quota(agent_id: str, limit: int) -> Quota:
    """An agent's budget, made once (every request of an agent names the same)."""
    return Quota(f"agent:{agent_id}", limit)


async def limited_agent(request: Request, config: HandoffConfig) -> AgentIdentity:
    """The calling agent, within their request budget (401 / 429 otherwise)."""
    agent = agent_of(request, config)
    await rate_limit(request, agent_quota(agent, config))
    return agent


async def rate_limit(request: Request, quota: Quota) -> None:
    """At most `quota.limit` requests a second per subject (0: no limit), counted in
    Redis so that every server process shares the same budget (429 beyond)."""
    if quota.limit > 0 and await runtime_of(request).store.count_request(quota.subject, int(time.time())) > quota.limit:
        raise TooManyRequests.over(quota.limit)
