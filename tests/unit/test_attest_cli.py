"""``unseen attest show`` and ``verify`` on a certificate carrying the real SGX quote."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner

from unseen.attestation.evidence import legacy_extension
from unseen.cli.main import app
from unseen.config.attestation import AttestationConfig
from unseen.transport.attested_certificate import issue_attested_certificate
from unseen.transport.tls import create_ca, write_certificate

FIXTURES = Path(__file__).parents[1] / "fixtures" / "sgx"
MRENCLAVE = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"


def cert_file(tmp: Path) -> Path:
    ca_key, ca_cert = create_ca("test CA")
    key = ec.generate_private_key(ec.SECP256R1())
    extension = legacy_extension((FIXTURES / "sgx_quote").read_bytes())
    path = tmp / "node.crt"
    write_certificate(
        path, issue_attested_certificate(ca_key, ca_cert, 10000, key, AttestationConfig(), tmp, extension=extension)
    )
    return path


def test_show_prints_measurements_status_and_advisories(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "attest",
            "show",
            str(cert_file(tmp_path)),
            "--collateral",
            str(FIXTURES / "sgx_quote_collateral.json"),
            "--at",
            "2025-07-01T00:00:00Z",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"mrenclave: {MRENCLAVE}" in result.output
    assert "INIT, MODE64BIT" in result.output
    assert "tcb_status: ConfigurationAndSWHardeningNeeded" in result.output
    assert "INTEL-SA-00289, INTEL-SA-00615" in result.output


def test_verify_refuses_with_each_reason(tmp_path: Path) -> None:
    collateral = tmp_path / "collateral"
    collateral.mkdir()
    (collateral / "collateral.json").write_bytes((FIXTURES / "sgx_quote_collateral.json").read_bytes())
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"mrenclave: ['{MRENCLAVE}']\nmin_isv_svn: 2\n")
    args = ["attest", "verify", str(cert_file(tmp_path)), "--policy", str(policy), "--collateral", str(collateral)]
    result = CliRunner().invoke(app, [*args, "--at", "2025-07-01T00:00:00Z"])
    assert result.exit_code == 1, result.output
    assert "verdict: refused" in result.output
    assert "report_data: expected" in result.output and "Hello, world!" in result.output
    assert "isv_svn: expected >= 2, got 0" in result.output
    assert "tcb_status: expected UpToDate, got ConfigurationAndSWHardeningNeeded" in result.output
    late = CliRunner().invoke(app, [*args, "--at", "2025-09-01T00:00:00Z"])
    assert late.exit_code == 1 and "expired" in late.output
