"""Reading what a deal is judged against from the CRM, and the verdict: go, wait or reject.

The account, each of its parents up to the top of its group, and the contract are read from
Salesforce by id (the only reads before the verdict; no other system is called). The rules
are `validation.judge`; the hierarchy is judged here: a subsidiary whose parent account has no
client in the ERP yet waits for it. The deal registers as the parent's waiter *before* looking
at the parent's client a second time, and the client step records the client *before* it
reads the waiters, so whichever runs second sees the other: no deal is left waiting on a
client that was onboarded meanwhile.
"""

from __future__ import annotations

import msgspec

from mediator.codecs.canonical.deals import Deal
from mediator.codecs.canonical.parties import Client
from mediator.flows.kinds import account_key
from mediator.flows.onboarding.links import Links, update_links
from mediator.flows.onboarding.options import OnboardingOptions
from mediator.flows.onboarding.validation import Terms, judge
from mediator.journal import Journal
from mediator.systems import SalesforceConnector
from mediator.systems.salesforce.by_id import read_account, read_contract

__all__ = ["MAX_DEPTH", "Verdict", "reach_verdict"]

#: How many parents up an account hierarchy is read (deeper is refused as a loop).
MAX_DEPTH = 10


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """What became of a deal's judgement: its `failures` (rejected), the parent account it
    `waits_for` (with a `note` for people), or its `terms` and `account` (go ahead)."""

    failures: list[str] = []
    waits_for: str | None = None
    note: str = ""
    terms: Terms | None = None
    account: Client | None = None
    chain: tuple[str, ...] = ()


async def reach_verdict(
    deal: Deal,
    *,
    salesforce: SalesforceConnector,
    journal: Journal,
    options: OnboardingOptions,
) -> Verdict:
    """Read the deal's account, parents and contract; judge them; check the parent's client."""
    account = None if not deal.account_id else await read_account(salesforce, deal.account_id)
    chain: list[str] = []
    problem = None
    if account is not None:
        chain, problem = await _parents(salesforce, account)
    contract = None if not deal.contract_id else await read_contract(salesforce, deal.contract_id)
    failures, terms = judge(
        deal, account=account, hierarchy_problem=problem, contract=contract, options=options
    )
    if failures or account is None or terms is None:
        return Verdict(failures=failures, chain=tuple(chain))
    parent = account.parent_id
    if parent is not None and not await _onboarded(journal, parent):
        waiting = await update_links(
            journal, account_key(parent), lambda links: _waiter(links, deal.source_id)
        )
        if not await _onboarded(journal, parent):  # onboarded meanwhile: see the docstring
            return Verdict(
                waits_for=parent, note=_waiting_note(parent, waiting), chain=tuple(chain)
            )
    return Verdict(terms=terms, account=account, chain=tuple(chain))


async def _onboarded(journal: Journal, account_id: str) -> bool:
    return await journal.xref_to("client", account_id, "tryton") is not None


def _waiter(links: Links, opportunity_id: str) -> Links:
    if links.dependents.get(opportunity_id) == "waiting":
        return links
    return msgspec.structs.replace(
        links, dependents={**links.dependents, opportunity_id: "waiting"}
    )


def _waiting_note(parent: str, links: Links) -> str:
    note = f"its parent account {parent} is not onboarded yet"
    if links.rejections:
        deal, reason = sorted(links.rejections.items())[0]
        note += f"; the parent was rejected (deal {deal}: {reason})"
    return note


async def _parents(
    salesforce: SalesforceConnector, account: Client
) -> tuple[list[str], str | None]:
    chain: list[str] = []
    seen = {account.source_id}
    current = account
    while current.parent_id is not None:
        parent_id = current.parent_id
        if parent_id in seen or len(chain) >= MAX_DEPTH:
            return chain, f"the parents of {account.source_id} loop or go deeper than {MAX_DEPTH}"
        parent = await read_account(salesforce, parent_id)
        if parent is None:
            return chain, f"parent account {parent_id} is not in the CRM"
        chain.append(parent_id)
        seen.add(parent_id)
        current = parent
    return chain, None
