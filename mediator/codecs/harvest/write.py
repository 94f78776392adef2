"""Canonical → Harvest v2: the request bodies the onboarding flow sends to set up the PSA.

Rates and fees go as JSON numbers in the client's currency (Harvest has no per-amount
currency); ``None`` values are left out, so a PATCH changes only what it names.
"""

from __future__ import annotations

import msgspec

from mediator.codecs.canonical.engagements import Project
from mediator.codecs.canonical.money import Money
from mediator.codecs.canonical.parties import Client
from mediator.codecs.canonical.rates import Assignment

__all__ = [
    "client_to_harvest",
    "encode_harvest",
    "project_to_harvest",
    "task_assignment_to_harvest",
    "user_assignment_to_harvest",
]

_ENCODER = msgspec.json.Encoder(decimal_format="number")  # Harvest takes rates as numbers


def encode_harvest(body: dict[str, object]) -> bytes:
    """Encode a request body for Harvest: JSON, Decimals as numbers, None values left out."""
    return _ENCODER.encode({key: value for key, value in body.items() if value is not None})


def client_to_harvest(client: Client) -> dict[str, object]:
    """Return the body that creates or updates `client` in Harvest."""
    address = client.billing_address
    lines = (
        None
        if address is None
        else "\n".join(
            part
            for part in (
                address.street,
                " ".join(p for p in (address.postal_code, address.city) if p),
                address.region,
                address.country,
            )
            if part
        )
    )
    return {
        "name": client.name,
        "currency": client.currency,
        "is_active": client.is_active,
        "address": lines,
    }


def project_to_harvest(project: Project, *, harvest_client_id: int) -> dict[str, object]:
    """Return the body that creates `project` under the Harvest client `harvest_client_id`.

    Time-and-materials projects bill by person (each assignment's rate); fixed-fee and
    retainer projects are billed from milestones and schedules, so Harvest bills nothing.
    """
    fixed = project.billing_model == "fixed_fee"
    t_and_m = project.billing_model == "time_and_materials"
    return {
        "client_id": harvest_client_id,
        "name": project.name,
        "code": project.code,
        "is_active": project.is_active,
        "is_billable": project.is_billable,
        "is_fixed_fee": fixed,
        "fee": None if project.fee is None else project.fee.to_decimal(),
        "bill_by": "People" if t_and_m else "none",
        "budget_by": "project_cost" if project.budget is not None else "none",
        "cost_budget": None if project.budget is None else project.budget.to_decimal(),
        "starts_on": project.starts_on,
        "ends_on": project.ends_on,
    }


def user_assignment_to_harvest(
    assignment: Assignment, *, harvest_user_id: int
) -> dict[str, object]:
    """Return the body of ``POST /v2/projects/{id}/user_assignments`` for `assignment`."""
    rate = assignment.bill_rate
    return {
        "user_id": harvest_user_id,
        "is_active": True,
        "hourly_rate": None if rate is None else rate.to_decimal(),
    }


def task_assignment_to_harvest(
    *, harvest_task_id: int, billable: bool, hourly_rate: Money | None = None
) -> dict[str, object]:
    """Return the body of ``POST /v2/projects/{id}/task_assignments``."""
    return {
        "task_id": harvest_task_id,
        "billable": billable,
        "hourly_rate": None if hourly_rate is None else hourly_rate.to_decimal(),
    }
