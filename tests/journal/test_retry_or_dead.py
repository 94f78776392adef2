"""What a failed delivery becomes, with and without the failing system's error codes."""

from __future__ import annotations

from mediator.errors import RemoteRejected
from mediator.journal import default_decider
from mediator.policies import PolicyRegistry, Verdict, default_policy_config
from mediator.testing import FakeClock
from mediator.testing.error_codes import register_vendor_error_codes


def test_an_unclassified_rejection_is_judged_by_its_systems_codes() -> None:
    policies = register_vendor_error_codes(
        PolicyRegistry(default_policy_config(), clock=FakeClock())
    )
    # a bulk upsert's refused item: the call succeeded, the record met a lock (retry later)
    locked = RemoteRejected("salesforce", 400, "UNABLE_TO_LOCK_ROW", "record 3: locked")
    knowing = default_decider(classifier_for=policies.classifier)
    assert knowing(locked, 1, 0.0).verdict is Verdict.RETRY
    # without the codes only the status speaks, and a 400 will not succeed as sent
    assert default_decider()(locked, 1, 0.0).verdict is Verdict.DEAD
    refused = RemoteRejected("salesforce", 400, "INVALID_FIELD", "record 1: bad field")
    assert knowing(refused, 1, 0.0).verdict is Verdict.DEAD
