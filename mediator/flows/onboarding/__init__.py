"""Deal won → onboarding: a won deal's client, projects and billing terms in every system.

DESIGN §5 flow 1. A saga per opportunity (`DealOnboarding`): judged by the rules of
`[flows.onboarding.options]` against the CRM alone (`validation`, `judging`), then the client
once per account (`client_steps`), the ERP and PSA projects with the rate card
(`project_steps`), the billing terms and the write-back to the CRM (`closing_steps`). Deals
waiting for a parent account or rejected are rechecked when what they depend on changes
(`links`, `RecordWatcher`). `OnboardingFlow` is the plug-in the `Mediator` runs.
"""

from mediator.flows.onboarding.actors import VALIDATE, DealOnboarding, RecordWatcher, StepFailed
from mediator.flows.onboarding.client_steps import (
    CLIENT_FLOW,
    BillingCustomerStep,
    ClientStep,
    ErpPartyStep,
    PsaClientStep,
    party_values,
)
from mediator.flows.onboarding.closing_steps import (
    BILLING_TERMS,
    CLIENT_TERMS,
    ONBOARDED,
    BillingStep,
    BillingTerms,
    WriteBackStep,
    load_billing_terms,
)
from mediator.flows.onboarding.context import FLOW, Onboarding, project_id_of
from mediator.flows.onboarding.links import LINKS, PAYLOADS, Links, Recheck, load_links
from mediator.flows.onboarding.options import OnboardingOptions, RateOption, TaxProfileOption
from mediator.flows.onboarding.plugin import POLLERS, OnboardingFlow
from mediator.flows.onboarding.project_steps import ErpProjectStep, PsaProjectStep
from mediator.flows.onboarding.validation import DealRejected, Terms, judge

__all__ = [
    "BILLING_TERMS",
    "CLIENT_FLOW",
    "CLIENT_TERMS",
    "FLOW",
    "LINKS",
    "ONBOARDED",
    "PAYLOADS",
    "POLLERS",
    "VALIDATE",
    "BillingCustomerStep",
    "BillingStep",
    "BillingTerms",
    "ClientStep",
    "DealOnboarding",
    "DealRejected",
    "ErpPartyStep",
    "ErpProjectStep",
    "Links",
    "Onboarding",
    "OnboardingFlow",
    "OnboardingOptions",
    "PsaClientStep",
    "PsaProjectStep",
    "RateOption",
    "Recheck",
    "RecordWatcher",
    "StepFailed",
    "TaxProfileOption",
    "Terms",
    "WriteBackStep",
    "judge",
    "load_billing_terms",
    "load_links",
    "party_values",
    "project_id_of",
]
