"""A partner's policy applied to verified evidence: one reason per field that does not match."""

from __future__ import annotations

from unseen.attestation.quote import ReportBody
from unseen.attestation.verdict import Reason
from unseen.config.attestation import Policy


def _one_of(values: list[str]) -> str:
    return values[0] if len(values) == 1 else "one of " + ", ".join(values)


def check_policy(policy: Policy, body: ReportBody, tcb_status: str | None) -> list[Reason]:
    reasons: list[Reason] = []
    if policy.mrenclave and body.mr_enclave.hex() not in policy.mrenclave:
        reasons.append(Reason("mrenclave", _one_of(policy.mrenclave), body.mr_enclave.hex()))
    if policy.mrsigner and body.mr_signer.hex() not in policy.mrsigner:
        reasons.append(Reason("mrsigner", _one_of(policy.mrsigner), body.mr_signer.hex()))
    if policy.isv_prod_id is not None and body.isv_prod_id != policy.isv_prod_id:
        reasons.append(Reason("isv_prod_id", str(policy.isv_prod_id), str(body.isv_prod_id)))
    if body.isv_svn < policy.min_isv_svn:
        reasons.append(Reason("isv_svn", f">= {policy.min_isv_svn}", str(body.isv_svn)))
    if body.debug and not policy.allow_debug:
        reasons.append(Reason("attributes.debug", "false (production enclave)", "true (debug enclave)"))
    if tcb_status is not None and tcb_status not in policy.tcb_statuses:
        reasons.append(Reason("tcb_status", _one_of(policy.tcb_statuses), tcb_status))
    return reasons
