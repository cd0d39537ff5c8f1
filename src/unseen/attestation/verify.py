"""Checking a certificate's evidence, in order: find it, read the quote, verify it (dcap-qvl against
collateral at a time, or the simulated signature), the key binding, then the policy. The first three fail
alone (nothing after them means anything); the policy lists every field that does not match."""

from __future__ import annotations

import time

from cryptography import x509

from unseen.attestation.binding import check_binding
from unseen.attestation.collateral import CollateralProvider
from unseen.attestation.dcap import verify_dcap
from unseen.attestation.evidence import find_evidence
from unseen.attestation.policy import check_policy
from unseen.attestation.quote import ReportBody, parse_quote
from unseen.attestation.simulated import verify_simulated_quote
from unseen.attestation.verdict import AttestationError, Reason, Verdict
from unseen.config.attestation import AttestationConfig, AttestationMode

SIMULATED_RECHECK_S = 3600  # simulated evidence has no collateral; re-checked hourly all the same


def body_details(body: ReportBody) -> dict[str, str]:
    return {
        "mrenclave": body.mr_enclave.hex(),
        "mrsigner": body.mr_signer.hex(),
        "isv_prod_id": str(body.isv_prod_id),
        "isv_svn": str(body.isv_svn),
        "attributes": f"{body.attributes.hex()} ({', '.join(body.flag_names()) or 'no flags'})",
        "debug": str(body.debug).lower(),
    }


def verify_certificate(
    cert: x509.Certificate,
    config: AttestationConfig,
    provider: CollateralProvider | None = None,
    now: int | None = None,
) -> Verdict:
    """The verdict on ``cert`` under ``config`` (the policy for the party it claims to be)."""
    at = int(time.time()) if now is None else now
    mode = config.mode.value
    try:
        return _verify(cert, config, provider, at)
    except AttestationError as exc:
        return Verdict(reasons=(exc.reason,), mode=mode)


def _verify(cert: x509.Certificate, config: AttestationConfig, provider: CollateralProvider | None, at: int) -> Verdict:
    policy = config.policy
    assert policy is not None, "AttestationConfig validation requires a policy unless mode is none"
    mode = config.mode.value
    evidence = find_evidence(cert)
    if evidence is None:
        return Verdict((Reason("evidence", "an attestation extension in the certificate", "none"),), mode)
    tcb_status: str | None = None
    advisories: tuple[str, ...] = ()
    if evidence.format == "simulated":
        if not policy.allow_simulated:
            return Verdict((Reason("evidence", "an SGX quote", "INSECURE simulated evidence"),), mode)
        simulated = verify_simulated_quote(evidence.quote)
        body = simulated.body
        if policy.simulated_signers and simulated.signer.hex() not in policy.simulated_signers:
            return Verdict(
                (Reason("simulated signer", " or ".join(policy.simulated_signers), simulated.signer.hex()),), mode
            )
        valid_until = at + SIMULATED_RECHECK_S
    else:
        quote = parse_quote(evidence.quote)
        body = quote.body
        if provider is None:
            if policy.collateral is None:
                return Verdict((Reason("collateral", "a collateral source in the policy", "none"),), mode)
            provider = CollateralProvider(policy.collateral)
        result = verify_dcap(quote.raw, provider, at)
        tcb_status, advisories, valid_until = result.tcb_status, result.advisory_ids, result.valid_until
    details = {"format": evidence.format, **body_details(body)}
    binding = check_binding(cert, evidence, body.report_data)
    reasons = [binding] if binding is not None else []
    reasons += check_policy(policy, body, tcb_status)
    return Verdict(tuple(reasons), mode, tcb_status, advisories, valid_until, details)


def describe(cert: x509.Certificate) -> dict[str, str]:
    """The evidence as it reads, unverified (for ``unseen attest show``)."""
    evidence = find_evidence(cert)
    if evidence is None:
        return {"evidence": "none"}
    if evidence.format == "simulated":
        simulated = verify_simulated_quote(evidence.quote)
        return {
            "format": "simulated (INSECURE: development only)",
            "signer": simulated.signer.hex(),
            **body_details(simulated.body),
        }
    quote = parse_quote(evidence.quote)
    shown = {
        "format": evidence.format,
        "quote_version": str(quote.header.version),
        "qe_svn": str(quote.header.qe_svn),
        "pce_svn": str(quote.header.pce_svn),
        **body_details(quote.body),
    }
    shown["report_data"] = quote.body.report_data.hex()
    return shown


__all__ = ["AttestationMode", "describe", "verify_certificate"]
