"""Intel's half of the check, by dcap-qvl: the quote's signature by the attestation key, the QE report and
its binding of that key, the PCK certificate chain to the Intel SGX Root CA (with the CRLs), and the TCB
info and QE identity from collateral, all at a given time. Returns the TCB status and advisory ids."""

from __future__ import annotations

from dataclasses import dataclass

from unseen.attestation.collateral import CollateralProvider
from unseen.attestation.verdict import refuse


@dataclass(frozen=True)
class DcapResult:
    tcb_status: str
    advisory_ids: tuple[str, ...]
    valid_until: int  # the collateral's earliest nextUpdate


def quote_fmspc(raw_quote: bytes) -> str:
    import dcap_qvl

    try:
        return str(dcap_qvl.parse_quote(raw_quote).fmspc())
    except (ValueError, RuntimeError) as exc:
        raise refuse("quote PCK certificate", "an FMSPC in the PCK certificate", str(exc)[:120]) from None


def verify_dcap(raw_quote: bytes, provider: CollateralProvider, now: int) -> DcapResult:
    import dcap_qvl

    collateral, valid_until = provider.get(quote_fmspc(raw_quote), raw_quote, now)
    try:
        report = dcap_qvl.verify(raw_quote, collateral, now)
    except (ValueError, RuntimeError) as exc:
        raise refuse(
            "quote verification", "a quote signed and current per Intel's collateral", str(exc)[:160]
        ) from None
    return DcapResult(str(report.status), tuple(str(a) for a in report.advisory_ids), valid_until)
