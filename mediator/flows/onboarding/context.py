"""One deal being onboarded: what its steps know (the deal, its terms, its account) and how
they reach the systems (the system actors, with the flow's deadline).

The flow's names for things live here too: the canonical project id (the deal's project code,
or the opportunity id when sales gave none) and the project's name in the ERP, which is also
its reference there (``P-1042 Website relaunch``: ``project.work`` has no other writable
unique field).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from mediator.actors import ActorRef
from mediator.codecs import Envelope
from mediator.codecs.canonical.deals import Deal
from mediator.codecs.canonical.parties import Client
from mediator.flows.onboarding.options import OnboardingOptions
from mediator.flows.onboarding.validation import Terms
from mediator.journal import Appended, Journal
from mediator.systems import Command, HarvestConnector, SalesforceConnector, TrytonConnector

__all__ = ["FLOW", "Onboarding", "project_id_of"]

#: The flow's name: its sagas' flow-state name and its idempotency keys' prefix.
FLOW = "onboarding"

R = TypeVar("R")


def project_id_of(deal: Deal) -> str:
    """The canonical project id of `deal`: its project code, or its opportunity id."""
    return deal.project_code or deal.source_id


@dataclasses.dataclass(frozen=True, kw_only=True)
class Onboarding:
    """A valid deal on its way through the steps, and the ways its steps reach out."""

    deal: Deal
    terms: Terms
    account: Client
    options: OnboardingOptions
    journal: Journal
    systems: Mapping[str, ActorRef[Command]]
    tryton: TrytonConnector
    harvest: HarvestConnector
    salesforce: SalesforceConnector
    follow_up: Callable[[Sequence[Envelope]], Awaitable[list[Appended]]]
    now: Callable[[], datetime.datetime]

    @property
    def opportunity_id(self) -> str:
        """The deal's CRM id (the canonical engagement id)."""
        return self.deal.source_id

    @property
    def account_id(self) -> str:
        """The client's CRM account id (the canonical client id)."""
        return self.account.source_id

    @property
    def project_id(self) -> str:
        """The canonical project id."""
        return project_id_of(self.deal)

    @property
    def project_name(self) -> str:
        """The project's name in the ERP and the PSA, unique by its code."""
        return f"{self.project_id} {self.deal.name}"

    async def ask(self, system: str, command: Command, answer: type[R]) -> R:
        """Have `system`'s actor carry out `command`; its answer, checked to be an `answer`.

        Waits up to the flow's `timeout`; an error of the system is raised as it is.
        """
        result = await self.systems[system].ask(command, timeout=self.options.timeout)
        if not isinstance(result, answer):
            raise TypeError(
                f"{system} answered {type(result).__name__} to {type(command).__name__}, "
                f"not {answer.__name__}"
            )
        return result
