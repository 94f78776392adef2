"""`mediator demo`: a month of a firm's approved time, from the PSA into the ERP, end to end.

The embedded default: the Harvest and Tryton sandboxes on loopback, seeded with a generated
firm; a SQLite journal; the actor runtime with one entity actor per project and a system actor
for the ERP. Day by day the month's approvals are made in Harvest, a poller journals the newly
approved entries (watermark and entries in one transaction), the dispatcher delivers them to
their project actors, and those have the ERP create the timesheet lines, batched. The ERP
sandbox fails some calls and drops some answers after committing, so retries and idempotent
look-ups are at work. At the end the whole month is read again from scratch to show that a
replay posts nothing twice, and the ERP's own lines are counted against the journal.

`run.py` runs it, `report.py` checks and summarises it, `calendar.py` keeps its figures
reproducible for a seed, `wiring.py` connects the runtime to the sandboxes.
"""

from mediator.demo.report import DemoReport, ErpCheck, check_erp
from mediator.demo.run import ERP_FAULTS, DemoStateError, run_demo

__all__ = ["ERP_FAULTS", "DemoReport", "DemoStateError", "ErpCheck", "check_erp", "run_demo"]
