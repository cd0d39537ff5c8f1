"""``unseen attest``: read, verify and issue RA-TLS certificates (docs/attestation.md).

Imports of the attestation code are inside the commands, so ``unseen --help`` stays fast.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Attestation evidence in node certificates (SGX DCAP via Gramine, or simulated).", no_args_is_help=True
)


def _load_cert(path: Path) -> object:
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"{path} is not a readable PEM certificate: {exc}") from None


def _timestamp(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"--at {text!r} is not an ISO 8601 time (e.g. 2025-07-01T00:00:00Z)") from None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp())


@app.command()
def show(
    cert: Annotated[Path, typer.Argument(help="a PEM certificate")],
    collateral: Annotated[
        Path | None, typer.Option(help="collateral folder, to show TCB status and advisories")
    ] = None,
    at: Annotated[str | None, typer.Option(help="verify at this time (ISO 8601), default now")] = None,
) -> None:
    """Print the evidence a certificate carries: measurements, attributes, and (with collateral) TCB status."""
    from unseen.attestation.collateral import CollateralProvider
    from unseen.attestation.dcap import verify_dcap
    from unseen.attestation.evidence import find_evidence
    from unseen.attestation.verdict import AttestationError
    from unseen.attestation.verify import describe
    from unseen.config.attestation import CollateralSource

    certificate = _load_cert(cert)
    try:
        shown = describe(certificate)  # type: ignore[arg-type]
        evidence = find_evidence(certificate)  # type: ignore[arg-type]
    except AttestationError as exc:
        typer.echo(f"unreadable evidence: {exc}", err=True)
        raise typer.Exit(1) from None
    if shown.get("format", "").startswith("simulated"):
        typer.echo("WARNING: INSECURE simulated evidence: nothing measured this code (development only)")
    for name, value in shown.items():
        typer.echo(f"{name}: {value}")
    if collateral is not None and evidence is not None and evidence.format != "simulated":
        try:
            when = _timestamp(at)
            result = verify_dcap(
                evidence.quote,
                CollateralProvider(CollateralSource(directory=collateral)),
                when if when is not None else int(dt.datetime.now(dt.UTC).timestamp()),
            )
        except AttestationError as exc:
            typer.echo(f"tcb_status: unknown ({exc})")
            raise typer.Exit(1) from None
        typer.echo(f"tcb_status: {result.tcb_status}")
        typer.echo(f"advisory_ids: {', '.join(result.advisory_ids) or 'none'}")


@app.command()
def verify(
    cert: Annotated[Path, typer.Argument(help="a PEM certificate")],
    policy: Annotated[Path, typer.Option(help="policy YAML (the `policy:` fields of docs/attestation.md)")],
    collateral: Annotated[Path | None, typer.Option(help="collateral folder (overrides the policy's source)")] = None,
    at: Annotated[str | None, typer.Option(help="verify at this time (ISO 8601), default now")] = None,
) -> None:
    """Verify a certificate's evidence against a policy: prints the verdict and each reason; exit 0 or 1."""
    import yaml
    from pydantic import ValidationError

    from unseen.attestation.verify import verify_certificate
    from unseen.config.attestation import AttestationConfig, CollateralSource, Policy

    try:
        data = yaml.safe_load(policy.read_text(encoding="utf-8")) or {}
        if collateral is not None:
            data["collateral"] = {"directory": str(collateral)}
        parsed = Policy.model_validate(data)
    except (OSError, yaml.YAMLError, ValidationError, TypeError) as exc:
        raise typer.BadParameter(f"policy {policy}: {exc}") from None
    if parsed.collateral is None:
        parsed = parsed.model_copy(update={"collateral": CollateralSource(directory=Path("."))})
    mode = "simulated" if parsed.allow_simulated else "sgx-dcap"
    config = AttestationConfig(mode=mode, policy=parsed)
    verdict = verify_certificate(_load_cert(cert), config, now=_timestamp(at))  # type: ignore[arg-type]
    if verdict.details.get("format") == "simulated":
        typer.echo("WARNING: INSECURE simulated evidence: nothing measured this code (development only)")
    if verdict.tcb_status is not None:
        typer.echo(f"tcb_status: {verdict.tcb_status}; advisories: {', '.join(verdict.advisory_ids) or 'none'}")
    if verdict.ok:
        typer.echo("verdict: accepted")
        return
    typer.echo("verdict: refused")
    for reason in verdict.reasons:
        typer.echo(f"  {reason.field}: expected {reason.expected}, got {reason.got}")
    raise typer.Exit(1)


@app.command()
def issue(
    node_config: Annotated[Path, typer.Option("--config", "-c", help="the node's node.yaml")],
    ca_cert: Annotated[Path, typer.Option(help="the issuing CA's certificate (PEM)")],
    ca_key: Annotated[Path, typer.Option(help="the issuing CA's key (PEM)")],
) -> None:
    """Reissue the node's certificate for its existing key, with evidence per its `attestation:` config.

    Run it where the key lives (inside the enclave, on the encrypted mount): the key is never exported.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from unseen.attestation.verdict import AttestationError
    from unseen.config.node import ConfigError, load_node_config
    from unseen.transport.attested_certificate import issue_attested_certificate
    from unseen.transport.tls import load_ca, write_certificate

    try:
        config = load_node_config(node_config)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None
    if config.attestation is None or config.attestation.mode.value == "none":
        raise typer.BadParameter(f"{node_config} has no `attestation:` with a mode other than none")
    key = serialization.load_pem_private_key(config.tls.key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise typer.BadParameter(f"{config.tls.key} is not an EC key")
    issuer_key, issuer_cert = load_ca(ca_cert, ca_key)
    try:
        cert = issue_attested_certificate(
            issuer_key, issuer_cert, config.party_id, key, config.attestation, config.home
        )
    except AttestationError as exc:
        typer.echo(f"cannot make evidence: {exc}", err=True)
        raise typer.Exit(1) from None
    write_certificate(config.tls.cert, cert)
    if config.attestation.mode.value == "simulated":
        typer.echo("WARNING: INSECURE simulated evidence: for development and tests only")
    typer.echo(f"wrote {config.tls.cert} with {config.attestation.mode.value} evidence")
