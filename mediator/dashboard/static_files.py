"""The dashboard's stylesheet and script, served by the daemon itself from the package.

No CDN, no web font, no build step: two small files shipped as package data and read once
at start. Each is served with its content type and ``nosniff``, and revalidated by its ETag
(a digest of the file) so a new release is picked up at once.
"""

from __future__ import annotations

import hashlib
from importlib import resources

from aiohttp import web

__all__ = ["add_static_routes"]

_FILES = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}


def add_static_routes(app: web.Application) -> None:
    """Serve ``/ui/static/<name>`` for each of the dashboard's files."""
    folder = resources.files("mediator.dashboard") / "static"
    for name, content_type in _FILES.items():
        body = (folder / name).read_bytes()
        etag = hashlib.sha256(body).hexdigest()[:16]

        async def serve(
            request: web.Request, body: bytes = body, etag: str = etag, kind: str = content_type
        ) -> web.Response:
            headers = {
                "ETag": f'"{etag}"',
                "Cache-Control": "no-cache",
                "X-Content-Type-Options": "nosniff",
            }
            if request.headers.get("If-None-Match") == f'"{etag}"':
                return web.Response(status=304, headers=headers)
            return web.Response(body=body, content_type=kind, charset="utf-8", headers=headers)

        app.router.add_get(f"/ui/static/{name}", serve)
