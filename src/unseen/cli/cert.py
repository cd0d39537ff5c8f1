"""``unseen cert init|issue|show|export|import``: a party's own TLS identity, and trust in its partners.

Each party is its own organisation: it makes its own CA (or a self-signed identity), issues its node's
certificate, hands each partner an exchange file and imports theirs. See docs/trust.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from unseen.config.node import ConfigError, load_node_config
from unseen.transport.exchange import ExchangeError, check_host, export_exchange, import_exchange, read_exchange
from unseen.transport.tls import (
    CertificateError,
    create_ca,
    create_self_signed_identity,
    issue_party_certificate,
    load_ca,
    party_id_of,
    write_certificate,
    write_private_key,
)
from unseen.transport.trust import fingerprint, load_one_certificate

app = typer.Typer(help="Make TLS identities and exchange trust with partners.", no_args_is_help=True)

DirOption = Annotated[Path, typer.Option("--dir", "-d", help="folder of the TLS files (default ./tls)")]
PartyOption = Annotated[int, typer.Option("--party", "-p", min=1, max=2**31 - 1, help="the party id")]
HostOption = Annotated[
    list[str] | None, typer.Option("--host", help="a DNS name or IP address partners dial (repeatable)")
]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _hosts(hosts: list[str] | None) -> tuple[str, ...]:
    try:
        return tuple(check_host(h) for h in hosts or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _refuse_overwrite(paths: list[Path], force: bool) -> None:
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        raise _fail(f"{', '.join(existing)} already exist; partners trust them: pass --force to replace them")


@app.command()
def init(
    directory: DirOption = Path("tls"),
    self_signed: Annotated[bool, typer.Option("--self-signed", help="a self-signed node identity, no CA")] = False,
    party: Annotated[int | None, typer.Option("--party", "-p", min=1, max=2**31 - 1, help="with --self-signed")] = None,
    host: HostOption = None,
    name: Annotated[str | None, typer.Option(help="the CA's common name")] = None,
    force: Annotated[bool, typer.Option(help="replace existing files")] = False,
) -> None:
    """Make this party's CA (ca.crt, ca.key), or with --self-signed its pinned node identity (node.crt, node.key)."""
    if self_signed:
        if party is None:
            raise typer.BadParameter("--self-signed needs --party, the id the certificate names")
        cert_path, key_path = directory / "node.crt", directory / "node.key"
        _refuse_overwrite([cert_path, key_path], force)
        key, cert = create_self_signed_identity(party, _hosts(host))
    else:
        cert_path, key_path = directory / "ca.crt", directory / "ca.key"
        _refuse_overwrite([cert_path, key_path], force)
        key, cert = create_ca(name or "Unseen party CA")
    write_private_key(key_path, key)
    write_certificate(cert_path, cert)
    typer.echo(f"wrote {cert_path} and {key_path} (owner-only)\nSHA-256 fingerprint: {fingerprint(cert)}")


@app.command()
def issue(
    party: PartyOption,
    host: HostOption = None,
    directory: DirOption = Path("tls"),
    force: Annotated[bool, typer.Option(help="replace an existing node certificate")] = False,
) -> None:
    """Issue this node's certificate from the CA in --dir: it names party-<id>, unseen://party/<id> and each --host."""
    cert_path, key_path = directory / "node.crt", directory / "node.key"
    try:
        ca_key, ca_cert = load_ca(directory / "ca.crt", directory / "ca.key")
    except (OSError, ValueError) as exc:
        raise _fail(f"no CA in {directory} ({exc}); make one with `unseen cert init --dir {directory}`") from None
    _refuse_overwrite([cert_path, key_path], force)
    key, cert = issue_party_certificate(ca_key, ca_cert, party, _hosts(host))
    write_private_key(key_path, key)
    write_certificate(cert_path, cert)
    typer.echo(f"wrote {cert_path} and {key_path} (owner-only) for party {party}")


def _describe(cert: x509.Certificate) -> list[str]:
    pem = cert.public_bytes(serialization.Encoding.PEM)
    try:
        party = str(party_id_of(pem))
    except CertificateError as exc:
        party = f"none ({exc})"
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = constraints.ca
    except x509.ExtensionNotFound:
        is_ca = False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n.value) for n in san]
    except x509.ExtensionNotFound:
        names = []
    self_signed = cert.issuer == cert.subject
    kind = "CA" if is_ca else "self-signed node identity" if self_signed else "node certificate"
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    now = dt.datetime.now(dt.UTC)
    state = "valid" if cert.not_valid_before_utc <= now <= cert.not_valid_after_utc else "NOT valid now"
    return [
        f"kind:        {kind}",
        f"subject:     {cert.subject.rfc4514_string()}",
        f"issuer:      {cert.issuer.rfc4514_string()}",
        f"party id:    {party}",
        f"names:       {', '.join(names) or '-'}",
        f"valid:       {cert.not_valid_before_utc:%Y-%m-%d %H:%M} to {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC "
        f"({state})",
        f"serial:      {cert.serial_number:x}",
        f"SHA-256:     {fingerprint(cert)}",
        f"SPKI SHA-256: {hashlib.sha256(spki).hexdigest()}",
    ]


@app.command()
def show(file: Annotated[Path, typer.Argument(help="a PEM certificate")]) -> None:
    """Print a certificate's subject, party id, names, validity, issuer and fingerprints."""
    try:
        cert = load_one_certificate(file.read_bytes(), str(file))
    except (OSError, CertificateError) as exc:
        raise _fail(str(exc)) from None
    for line in _describe(cert):
        typer.echo(line)


@app.command()
def export(
    config: Annotated[Path, typer.Option("--config", "-c", help="this node's node.yaml")],
    address: Annotated[
        str | None, typer.Option(help="HOST:PORT partners dial (default: federation_host:federation_port)")
    ] = None,
    ca: Annotated[Path | None, typer.Option(help="the CA certificate (default: ca.crt beside tls.cert)")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="where to write (default: stdout)")] = None,
) -> None:
    """Write the exchange file this party hands each partner: party id, federation address, anchor, fingerprint."""
    try:
        node = load_node_config(config)
        own = node.tls.cert.read_bytes()
        own_cert = load_one_certificate(own, str(node.tls.cert)) if own.count(b"BEGIN CERT") == 1 else None
        if own_cert is not None and own_cert.issuer == own_cert.subject:
            kind, anchor = "pinned", own
        else:
            kind, anchor = "ca", (ca or node.tls.cert.parent / "ca.crt").read_bytes()
        if address is None:
            host, port = node.federation_host, node.federation_port
        else:
            host, _, port_text = address.rpartition(":")
            port = int(port_text)
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 -- refusing a wildcard, not binding one
            raise ExchangeError(f"the node listens on '{host}'; pass --address HOST:PORT, as partners dial it")
        text = export_exchange(node.party_id, host, port, kind, anchor)  # type: ignore[arg-type]
    except (ConfigError, OSError, CertificateError, ExchangeError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        typer.echo(f"wrote {out}; tell your partners its fingerprint over another channel:", err=True)
    typer.echo(f"SHA-256 fingerprint: {text.splitlines()[2].strip('# ')}", err=True)


@app.command(name="import")
def import_(
    file: Annotated[Path, typer.Argument(help="the partner's exchange file")],
    config: Annotated[Path, typer.Option("--config", "-c", help="this node's node.yaml")],
    expected: Annotated[
        str | None, typer.Option("--fingerprint", help="the fingerprint the partner told you out of band")
    ] = None,
    replace: Annotated[bool, typer.Option(help="accept a changed anchor or address for a known partner")] = False,
) -> None:
    """Add (or with --replace update) a partner in node.yaml's routing table, its anchor under partners/."""
    try:
        document = read_exchange(file)
        result = import_exchange(config, document, expected, replace)
    except (ExchangeError, CertificateError, ConfigError, ValueError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(result)
    if expected is None:
        typer.echo(
            f"compare party {document.party_id}'s fingerprint {document.fingerprint} with the one it told you "
            "out of band (or import with --fingerprint); restart the node to use the new trust",
            err=True,
        )
    else:
        typer.echo("fingerprint matches; restart the node to use the new trust", err=True)
