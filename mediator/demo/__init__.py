"""`mediator demo`: a firm's month through every flow, from won deals to applied cash.

The embedded default: the four sandboxes on loopback (Salesforce, Harvest, Stripe, Tryton),
seeded with a generated firm whose deals are won in the CRM and onboarded nowhere yet; a
SQLite journal; the `Mediator` with every flow. First the CRM pollers read the won deals and
the onboarding flow makes each client and project in the ERP, the PSA and billing (and writes
the ids back to the CRM). Then the month plays out: time and expenses are logged on those
projects and approved day by day, polled, posted to the ERP as timesheet lines (the ERP
sandbox fails some calls and drops some answers after committing, so retries and idempotent
look-ups are at work) and aggregated onto each client's draft invoice. The whole month is read
again from scratch to show that a replay posts nothing twice. At month-end the invoices are
finalized, become posted ERP receivables (the large ones after a person approved them), the
customers pay (one in part) and the payments are applied in the ERP; each system's own records
are then checked against what should be there.

`run.py` runs it, `checks.py` and `report.py` check and summarise it, `calendar.py` keeps its
figures reproducible for a seed, `wiring.py` connects the runtime to the sandboxes.
"""

from mediator.demo.report import DemoReport, ErpCheck, check_erp
from mediator.demo.run import ERP_FAULTS, DemoStateError, run_demo

__all__ = ["ERP_FAULTS", "DemoReport", "DemoStateError", "ErpCheck", "check_erp", "run_demo"]
