"""The presence check: every onboarded client and project exists in each system it should.

The xref map is the source: a client onboarding made has its Salesforce Account, Tryton
party, Harvest client and Stripe customer ids there; a project its Opportunity, Tryton
``project.work`` and Harvest project. Each id is looked for in its system (a record deleted
there is *missing*); an id not recorded yet is *in flight* while the client's or deal's
messages are open, else *missing* (with the dead letter that stopped it, to replay). Records
mediator made that the map does not know are *orphans* (a Harvest project under an onboarded
client that no deal made), or *duplicates* (a second Stripe customer tagged with the same CRM
account).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Final

from mediator.codecs.harvest import wire as hv
from mediator.codecs.stripe import wire as st
from mediator.journal import Entry
from mediator.reconciliation.known import dead_letters_among
from mediator.reconciliation.run import Run

__all__ = ["check_presence"]

_CLIENT_SYSTEMS: Final = ("salesforce", "tryton", "harvest", "stripe")
_PROJECT_SYSTEMS: Final = ("salesforce", "tryton", "harvest")


async def check_presence(run: Run) -> None:
    """Look for each onboarded client and project in every system; find orphans."""
    clients = await run.known.xrefs("client")
    projects = await run.known.xrefs("project")
    harvest_clients = {str(c.id) for c in await run.reads.harvest_clients()}
    harvest_projects = await run.reads.harvest_projects()
    customers = await run.reads.customers()
    parties = await run.reads.erp_ids("party.party", _ints(clients, "tryton"))
    works = await run.reads.erp_ids("project.work", _ints(projects, "tryton"))
    existing = {
        "harvest": {"client": harvest_clients, "project": {str(p.id) for p in harvest_projects}},
        "stripe": {"client": {c.id for c in customers if not c.deleted}},
        "tryton": {"client": {str(i) for i in parties}, "project": {str(i) for i in works}},
        "salesforce": {
            "client": await run.reads.crm_ids("Account", _ids(clients, "salesforce")),
            "project": await run.reads.crm_ids("Opportunity", _ids(projects, "salesforce")),
        },
    }  # fmt: skip
    keys = [f"account:{c}" for c in clients]
    keys += [f"opportunity:{ids['salesforce']}" for ids in projects.values() if "salesforce" in ids]
    open_ = await run.known.open_entries(keys)
    for system in _CLIENT_SYSTEMS:
        run.total(system, "clients", sum(system in ids for ids in clients.values()))
    for system in _PROJECT_SYSTEMS:
        run.total(system, "projects", sum(system in ids for ids in projects.values()))
    for client, ids in sorted(clients.items()):
        _present(
            run,
            "client",
            client,
            ids,
            _CLIENT_SYSTEMS,
            existing,
            open_.get(f"account:{client}", []),
        )
    for project, ids in sorted(projects.items()):
        key = f"opportunity:{ids.get('salesforce', '')}"
        _present(run, "project", project, ids, _PROJECT_SYSTEMS, existing, open_.get(key, []))
    _orphans(run, clients, projects, harvest_projects, customers)


def _present(
    run: Run,
    what: str,
    canonical: str,
    ids: dict[str, str],
    systems: tuple[str, ...],
    existing: dict[str, dict[str, set[str]]],
    entries: list[Entry],
) -> None:
    entity = f"{what}:{canonical}"
    dead = dead_letters_among(entries)
    journal = tuple(e.id for e in entries)
    for system in systems:
        system_id = ids.get(system)
        if system_id is None:
            if entries and not dead:
                run.count("presence", "in_flight")
                continue
            run.found(
                "presence", "missing", entity=entity, system=system, source="xref",
                detail=f"{what} {canonical} has no {system} record (onboarding did not make it)",
                journal=journal, dead_letters=dead,
            )  # fmt: skip
        elif system_id not in existing[system][what]:
            run.found(
                "presence", "missing", entity=entity, system=system, source="xref",
                detail=f"{system} has no {what} {system_id} any more (the xref map has it)",
            )  # fmt: skip
        else:
            run.count("presence", "matched")


def _orphans(
    run: Run,
    clients: dict[str, dict[str, str]],
    projects: dict[str, dict[str, str]],
    harvest_projects: list[hv.HvProject],
    customers: list[st.StCustomer],
) -> None:
    ours = {ids["harvest"] for ids in clients.values() if "harvest" in ids}
    mapped = {ids["harvest"] for ids in projects.values() if "harvest" in ids}
    for project in harvest_projects:
        client_id, project_id = str(project.client.id), str(project.id)
        if client_id in ours and project_id not in mapped:
            run.found(
                "presence", "orphan", entity=f"harvest_project:{project_id}", system="harvest",
                source="xref",
                detail=f"Harvest project {project_id} ({project.name}) of onboarded client "
                f"{client_id} was made by no deal mediator onboarded",
            )  # fmt: skip
    known_customers = {ids["stripe"] for ids in clients.values() if "stripe" in ids}
    tagged: dict[str, list[str]] = defaultdict(list)
    for customer in customers:
        tag = customer.metadata.get("mediator_client", "")
        if tag.startswith("salesforce:") and not customer.deleted:
            tagged[tag.removeprefix("salesforce:")].append(customer.id)
    for account, found in sorted(tagged.items()):
        extra = [c for c in found if c not in known_customers]
        if not extra:
            continue
        run.found(
            "presence", "duplicate" if account in clients else "orphan",
            entity=f"client:{account}", system="stripe", source="xref",
            detail=f"Stripe customer(s) {', '.join(extra)} tagged with account {account} are not "
            "the customer the xref map has",
        )  # fmt: skip


def _ints(entities: dict[str, dict[str, str]], system: str) -> list[int]:
    return [int(ids[system]) for ids in entities.values() if ids.get(system, "").isdigit()]


def _ids(entities: dict[str, dict[str, str]], system: str) -> list[str]:
    return [ids[system] for ids in entities.values() if system in ids]
