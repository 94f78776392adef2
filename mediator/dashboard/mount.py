"""Mounting the dashboard on the admin API's application: pages, login, static files.

`PAGES` is the navigation, in order; a new page is one more `Page` in it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from aiohttp import web

from mediator.admin.auth import TokenTable
from mediator.admin.endpoint import Endpoint
from mediator.admin.snapshots import Snapshots
from mediator.dashboard import (
    approvals,
    audit,
    dead_letters,
    entities,
    overview,
    reconciliation,
)
from mediator.dashboard.calls import AdminCalls
from mediator.dashboard.login import Login, logout_route
from mediator.dashboard.sessions import SessionStore
from mediator.dashboard.site import Dashboard, Page
from mediator.dashboard.static_files import add_static_routes

if TYPE_CHECKING:
    from mediator.runtime import Mediator

__all__ = ["PAGES", "mount_dashboard"]

#: the dashboard's pages, in the navigation's order
PAGES: tuple[Page, ...] = (
    overview.PAGE,
    dead_letters.PAGE,
    approvals.PAGE,
    reconciliation.PAGE,
    entities.PAGE,
    audit.PAGE,
)
_ACCOUNT = Page(title="", path="", routes=(logout_route,))  # routes only: not in the navigation


def mount_dashboard(
    app: web.Application,
    *,
    mediator: Mediator,
    tokens: TokenTable,
    snapshots: Snapshots,
    endpoints: Iterable[Endpoint],
    pages: Sequence[Page] = PAGES,
    sessions: SessionStore | None = None,
) -> Dashboard:
    """Add the dashboard to the admin API's `app`: its pages read and act through
    `endpoints` (the API's table) with the API's `snapshots`; returns the dashboard."""
    calls = AdminCalls(endpoints, mediator=mediator, snapshots=snapshots)
    dashboard = Dashboard(calls=calls, sessions=sessions or SessionStore(),
                          pages=(*pages, _ACCOUNT))  # fmt: skip
    dashboard.add_routes(app)
    Login(tokens=tokens, sessions=dashboard.sessions, layout=dashboard.layout).add_routes(app)
    add_static_routes(app)
    return dashboard
