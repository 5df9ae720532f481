"""The agent console and the customer chat page: static files under
`/console/` and `/chat/`, served from `channels/handoff/static/`.

Only files that exist under those folders when the server starts can be served:
each request is looked up in a table of known names, so no path a client sends
is ever joined to the file system (no traversal, no dotfiles, no listings).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, empty, raw

from channels.handoff.context import ChannelContext
from channels.handoff.errors import NotFound
from channels.handoff.http import error_response

STATIC_ROOT = Path(__file__).resolve().parent / "static"
APPS = ("console", "chat")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
}
# Everything is local: no CDN, no inline script, sockets back to this server only.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors {ancestors}"
)


def asset_table(folder: Path) -> dict[str, Path]:
    """Relative POSIX name -> file, for every servable file under `folder`."""
    table: dict[str, Path] = {}
    if not folder.is_dir():
        return table
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or any(part.startswith(".") for part in relative.parts):
            continue
        if path.suffix in CONTENT_TYPES:
            table[relative.as_posix()] = path
    return table


def headers_for(app: str, body: bytes) -> dict[str, str]:
    return {
        "Cache-Control": "no-cache",
        "ETag": '"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        # The console stays out of frames; the chat page may be embedded in a shop.
        "Content-Security-Policy": CONTENT_SECURITY_POLICY.format(ancestors="'none'" if app == "console" else "*"),
    }


def serve_file(request: Request, app: str, table: dict[str, Path], name: str) -> HTTPResponse:
    path = table.get(name)
    if path is None:
        return error_response(NotFound("not_found", f"No file {name!r} in the {app}."))
    body = path.read_bytes()
    headers = headers_for(app, body)
    if request.headers.get("if-none-match") == headers["ETag"]:
        return empty(status=304, headers=headers)
    content_type = CONTENT_TYPES[path.suffix]
    return raw(b"" if request.method == "HEAD" else body, content_type=content_type, headers=headers)


def register(bp: Blueprint, context: ChannelContext) -> None:
    for app in APPS:
        register_app(bp, app, asset_table(STATIC_ROOT / app))


def register_app(bp: Blueprint, app: str, table: dict[str, Path]) -> None:
    async def index(request: Request) -> HTTPResponse:
        return serve_file(request, app, table, "index.html")

    async def asset(request: Request, name: str) -> HTTPResponse:
        return serve_file(request, app, table, name)

    # `/console` and `/console/` both open the page; relative asset URLs need the
    # slash, so the bare path redirects to it (relatively: it works behind a proxy prefix).
    async def bare(request: Request) -> HTTPResponse:
        query = f"?{request.query_string}" if request.query_string else ""
        return empty(status=308, headers={"Location": f"{app}/{query}"})

    bp.add_route(bare, f"/{app}", methods=["GET", "HEAD"], strict_slashes=True, name=f"{app}_bare")
    bp.add_route(index, f"/{app}/", methods=["GET", "HEAD"], strict_slashes=True, name=f"{app}_index")
    bp.add_route(asset, f"/{app}/<name:path>", methods=["GET", "HEAD"], name=f"{app}_asset")
