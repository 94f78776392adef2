"""The Tryton JSON-RPC sandbox (ERP): parties, projects, timesheets, customer invoices."""

from mediator.sandbox.tryton.app import TrytonSandbox, session_header
from mediator.sandbox.tryton.database import TrytonDatabase
from mediator.sandbox.tryton.reference import CompanySetup
from mediator.sandbox.tryton.schema import MODELS

__all__ = ["MODELS", "CompanySetup", "TrytonDatabase", "TrytonSandbox", "session_header"]
