"""The admin HTTP API and the operator's command line.

`open_admin_listener` serves, on `[admin] listen`: `/healthz` and `/readyz` (no token),
flows, systems, posting windows, dead letters (list, one, replay, release, discard), an
entity's history, approvals and the audit log (bearer tokens: ``viewer`` reads, ``operator``
acts), and `/openapi.json` generated from the same msgspec types. `mediator.admin.cli` is
the operator's CLI, a client of this API; `mediator.dashboard`, served beside it under
``/ui/``, is its other client, in process.
"""

from mediator.admin.app import ENDPOINTS, build_admin_app, open_admin_listener
from mediator.admin.auth import Principal, TokenTable
from mediator.admin.problems import Problem, ProblemError

__all__ = [
    "ENDPOINTS",
    "Principal",
    "Problem",
    "ProblemError",
    "TokenTable",
    "build_admin_app",
    "open_admin_listener",
]
