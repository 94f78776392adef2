"""Salesforce REST: its wire types (`wire`), their mapping to canonical entities (`mapping`),
write bodies (`write`) and what its error codes mean (`errors`).

The same verbs as every vendor package: `decode` (bytes to this vendor's wire types, raising
only `DecodeError`), `<entity>_from_salesforce` / `<entity>_to_salesforce`, and `error_code`.
"""

from mediator.codecs.salesforce.deals import (
    contract_from_salesforce,
    deal_from_salesforce,
    staffing_from_salesforce,
)
from mediator.codecs.salesforce.errors import error_code
from mediator.codecs.salesforce.mapping import (
    accounts_from_soql,
    change_order_from_salesforce,
    client_from_salesforce,
    decode_salesforce,
    decode_salesforce_records,
    engagement_from_salesforce,
    milestone_from_salesforce,
    milestones_from_soql,
    opportunities_from_soql,
)
from mediator.codecs.salesforce.mapping import decode_salesforce as decode

__all__ = [
    "accounts_from_soql",
    "change_order_from_salesforce",
    "client_from_salesforce",
    "contract_from_salesforce",
    "deal_from_salesforce",
    "decode",
    "decode_salesforce",
    "decode_salesforce_records",
    "engagement_from_salesforce",
    "error_code",
    "milestone_from_salesforce",
    "milestones_from_soql",
    "opportunities_from_soql",
    "staffing_from_salesforce",
]
