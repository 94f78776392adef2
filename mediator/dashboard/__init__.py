"""The operator's dashboard: server-rendered pages on the admin API's listener.

`mount_dashboard` adds, beside the admin API's paths (which it leaves as they are), the
login at ``/ui/login`` and the pages of `PAGES` under ``/ui/`` (``/`` leads there): the
overview, dead letters, approvals and one entity's history. Every figure and every action
goes through the admin API's own endpoints (`AdminCalls`), with the same tokens and roles:
an operator logs in with their token, gets a session cookie, and acts; a viewer only reads.
`PAGES` is the navigation: a new page (reconciliation) is one more `Page` in it.
"""

from mediator.dashboard.calls import AdminCalls
from mediator.dashboard.mount import PAGES, mount_dashboard
from mediator.dashboard.sessions import Session, SessionStore
from mediator.dashboard.site import Dashboard, Page, Route, View

__all__ = [
    "PAGES",
    "AdminCalls",
    "Dashboard",
    "Page",
    "Route",
    "Session",
    "SessionStore",
    "View",
    "mount_dashboard",
]
