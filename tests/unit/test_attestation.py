"""Attestation against a real SGX DCAP quote and its collateral (tests/fixtures/sgx), and simulated evidence."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from unseen.attestation.binding import public_key_hash, report_data_for
from unseen.attestation.collateral import CollateralProvider
from unseen.attestation.dcap import verify_dcap
from unseen.attestation.evidence import (
    OID_GRAMINE_AS_EMITTED,
    dice_claims,
    dice_extension,
    find_evidence,
    legacy_extension,
)
from unseen.attestation.making import evidence_extension, gramine_quote
from unseen.attestation.quote import parse_quote
from unseen.attestation.verdict import AttestationError
from unseen.attestation.verify import verify_certificate
from unseen.config.attestation import AttestationConfig, CollateralSource, Policy, SimulatedIdentity
from unseen.config.node import NodeConfig
from unseen.transport.attested_certificate import issue_attested_certificate
from unseen.transport.tls import create_ca

FIXTURES = Path(__file__).parents[1] / "fixtures" / "sgx"
QUOTE = (FIXTURES / "sgx_quote").read_bytes()
MRENCLAVE = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"
MRSIGNER = "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6"
INSIDE = int(dt.datetime(2025, 7, 1, tzinfo=dt.UTC).timestamp())
AFTER = int(dt.datetime(2025, 8, 1, tzinfo=dt.UTC).timestamp())


@pytest.fixture
def collateral_dir(tmp_path: Path) -> Path:
    (tmp_path / "collateral.json").write_bytes((FIXTURES / "sgx_quote_collateral.json").read_bytes())
    return tmp_path


def sgx_config(collateral: Path, **policy: object) -> AttestationConfig:
    fields: dict[str, object] = {"mrenclave": [MRENCLAVE], "collateral": CollateralSource(directory=collateral)}
    fields.update(policy)
    return AttestationConfig(mode="sgx-dcap", policy=Policy.model_validate(fields))


def test_parses_the_real_quote() -> None:
    quote = parse_quote(QUOTE)
    assert len(QUOTE) == 4600
    assert quote.header.version == 3
    assert quote.body.mr_enclave.hex() == MRENCLAVE
    assert quote.body.mr_signer.hex() == MRSIGNER
    assert (quote.body.isv_prod_id, quote.body.isv_svn) == (0, 0)
    assert quote.body.attributes.hex() == "0500000000000000e700000000000000"
    assert quote.body.flag_names() == ["INIT", "MODE64BIT"]
    assert not quote.body.debug
    assert quote.body.report_data.rstrip(b"\0") == b"Hello, world!"


@pytest.mark.parametrize(
    "raw",
    [QUOTE[:100], QUOTE[:-1], QUOTE + b"\0", b"\x04\x00" + QUOTE[2:], QUOTE[:4] + b"\x81\0\0\0" + QUOTE[8:]],
    ids=["truncated-header", "truncated-signature", "padded", "version-4", "tdx-tee-type"],
)
def test_hostile_quote_shapes_are_refused(raw: bytes) -> None:
    with pytest.raises(AttestationError):
        parse_quote(raw)


def test_dcap_verifies_inside_the_collateral_window(collateral_dir: Path) -> None:
    result = verify_dcap(QUOTE, CollateralProvider(CollateralSource(directory=collateral_dir)), INSIDE)
    assert result.tcb_status == "ConfigurationAndSWHardeningNeeded"
    assert result.advisory_ids == ("INTEL-SA-00289", "INTEL-SA-00615")
    assert result.valid_until == int(dt.datetime(2025, 7, 19, 10, 1, 18, tzinfo=dt.UTC).timestamp())


def test_a_time_outside_the_window_is_refused(collateral_dir: Path) -> None:
    with pytest.raises(AttestationError, match="expired"):
        verify_dcap(QUOTE, CollateralProvider(CollateralSource(directory=collateral_dir)), AFTER)


@pytest.mark.parametrize("offset", [20, 48 + 64, 48 + 320, 300 + 48 + 384])
def test_a_flipped_byte_in_the_signed_part_is_refused(collateral_dir: Path, offset: int) -> None:
    flipped = bytearray(QUOTE)
    flipped[offset] ^= 0x01
    with pytest.raises(AttestationError):
        verify_dcap(bytes(flipped), CollateralProvider(CollateralSource(directory=collateral_dir)), INSIDE)


def certificate_with(extension: x509.UnrecognizedExtension) -> x509.Certificate:
    ca_key, ca_cert = create_ca("test CA")
    node_key = ec.generate_private_key(ec.SECP256R1())
    config = AttestationConfig()
    return issue_attested_certificate(ca_key, ca_cert, 10000, node_key, config, Path("."), extension=extension)


def test_a_certificate_carrying_the_real_quote_fails_the_key_binding(collateral_dir: Path) -> None:
    cert = certificate_with(legacy_extension(QUOTE))
    assert find_evidence(cert) is not None
    policy = {"tcb_statuses": ["ConfigurationAndSWHardeningNeeded"]}
    verdict = verify_certificate(cert, sgx_config(collateral_dir, **policy), now=INSIDE)
    assert not verdict.ok
    assert [r.field for r in verdict.reasons] == ["report_data"]
    assert "Hello, world!" in verdict.reasons[0].got
    assert verdict.tcb_status == "ConfigurationAndSWHardeningNeeded"


def test_gramine_and_intended_oids_are_both_read() -> None:
    for as_emitted in (True, False):
        evidence = find_evidence(certificate_with(legacy_extension(QUOTE, as_gramine_emits=as_emitted)))
        assert evidence is not None and evidence.quote == QUOTE
    assert OID_GRAMINE_AS_EMITTED.dotted_string == "0.6.9.42.840.113741.1337.6"


def test_tcg_dice_evidence_is_read_and_its_claims_bound() -> None:
    claims = dice_claims(hashlib.sha256(b"some key").digest())
    evidence = find_evidence(certificate_with(dice_extension(QUOTE, claims)))
    assert evidence is not None and evidence.format == "tcg-dice" and evidence.quote == QUOTE
    assert evidence.claimed_pubkey_hash == hashlib.sha256(b"some key").digest()


def test_garbage_dice_evidence_is_refused() -> None:
    cert = certificate_with(x509.UnrecognizedExtension(x509.ObjectIdentifier("2.23.133.5.4.9"), b"\xff\x00garbage"))
    with pytest.raises(AttestationError):
        find_evidence(cert)


@pytest.mark.parametrize(
    ("policy", "fields"),
    [
        ({"tcb_statuses": ["ConfigurationAndSWHardeningNeeded"]}, set()),
        ({}, {"tcb_status"}),  # UpToDate only, by default
        ({"mrenclave": ["00" * 32], "tcb_statuses": ["ConfigurationAndSWHardeningNeeded"]}, {"mrenclave"}),
        ({"mrsigner": [MRSIGNER], "mrenclave": [], "tcb_statuses": ["ConfigurationAndSWHardeningNeeded"]}, set()),
        (
            {"isv_prod_id": 7, "min_isv_svn": 1, "tcb_statuses": ["UpToDate", "SWHardeningNeeded"]},
            {"isv_prod_id", "isv_svn", "tcb_status"},
        ),
    ],
)
def test_policies_accept_or_refuse_the_real_quote(
    collateral_dir: Path, policy: dict[str, object], fields: set[str]
) -> None:
    """The binding is taken out of the picture by checking the quote's own report data against itself."""
    from unseen.attestation.policy import check_policy

    result = verify_dcap(QUOTE, CollateralProvider(CollateralSource(directory=collateral_dir)), INSIDE)
    config = sgx_config(collateral_dir, **policy)
    assert config.policy is not None
    reasons = check_policy(config.policy, parse_quote(QUOTE).body, result.tcb_status)
    assert {r.field for r in reasons} == fields


def test_a_policy_must_name_a_measurement_and_known_statuses() -> None:
    with pytest.raises(ValueError, match="mrenclave or mrsigner"):
        Policy()
    with pytest.raises(ValueError, match="unknown TCB status"):
        Policy(mrenclave=[MRENCLAVE], tcb_statuses=["Fine"])
    with pytest.raises(ValueError, match="allow_simulated"):
        AttestationConfig(mode="simulated", policy=Policy(mrenclave=[MRENCLAVE]))


def simulated_config(tmp: Path, mrenclave: str = "11" * 32, debug: bool = False) -> AttestationConfig:
    return AttestationConfig(
        mode="simulated",
        policy=Policy(mrenclave=["11" * 32], allow_simulated=True),
        simulated=SimulatedIdentity(mrenclave=mrenclave, mrsigner="22" * 32, debug=debug, signing_key=tmp / "sim.key"),
    )


def simulated_cert(config: AttestationConfig, tmp: Path) -> x509.Certificate:
    ca_key, ca_cert = create_ca("test CA")
    node_key = ec.generate_private_key(ec.SECP256R1())
    return issue_attested_certificate(ca_key, ca_cert, 10000, node_key, config, tmp)


def test_simulated_evidence_is_accepted_only_when_allowed(tmp_path: Path) -> None:
    config = simulated_config(tmp_path)
    cert = simulated_cert(config, tmp_path)
    assert verify_certificate(cert, config).ok
    strict = AttestationConfig(
        mode="sgx-dcap", policy=Policy(mrenclave=["11" * 32], collateral=CollateralSource(directory=tmp_path))
    )
    verdict = verify_certificate(cert, strict)
    assert [(r.field, r.got) for r in verdict.reasons] == [("evidence", "INSECURE simulated evidence")]


def test_simulated_measurement_and_debug_are_checked(tmp_path: Path) -> None:
    config = simulated_config(tmp_path, mrenclave="33" * 32, debug=True)
    verdict = verify_certificate(simulated_cert(config, tmp_path), simulated_config(tmp_path))
    assert {(r.field, r.got) for r in verdict.reasons} == {
        ("mrenclave", "33" * 32),
        ("attributes.debug", "true (debug enclave)"),
    }


def test_simulated_evidence_on_another_key_fails_the_binding(tmp_path: Path) -> None:
    config = simulated_config(tmp_path)
    stolen = simulated_cert(config, tmp_path).extensions.get_extension_for_oid(
        x509.ObjectIdentifier("2.25.246125283196305963473590306802939862530")
    )
    assert isinstance(stolen.value, x509.UnrecognizedExtension)
    verdict = verify_certificate(certificate_with(stolen.value), config)
    assert [r.field for r in verdict.reasons] == ["report_data"]


def test_gramine_device_files_are_used(tmp_path: Path) -> None:
    """The folder stands in for /dev/attestation: the key hash goes in, the quote comes out."""
    (tmp_path / "user_report_data").write_bytes(b"")
    (tmp_path / "quote").write_bytes(QUOTE)
    key_hash = hashlib.sha256(b"key").digest()
    assert gramine_quote(key_hash, tmp_path) == QUOTE
    assert (tmp_path / "user_report_data").read_bytes() == report_data_for(key_hash)
    config = AttestationConfig(
        mode="sgx-dcap",
        device_dir=tmp_path,
        policy=Policy(mrenclave=[MRENCLAVE], collateral=CollateralSource(directory=tmp_path)),
    )
    extension = evidence_extension(config, key_hash, tmp_path)
    assert extension.oid == OID_GRAMINE_AS_EMITTED and extension.value == QUOTE


def test_public_key_hash_is_over_subject_public_key_info() -> None:
    from cryptography.hazmat.primitives import serialization

    cert = certificate_with(legacy_extension(QUOTE))
    der = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert public_key_hash(cert) == hashlib.sha256(der).digest()


def node_config(tmp: Path, attestation: dict[str, object]) -> NodeConfig:
    return NodeConfig.model_validate(
        {
            "party_id": 9999,
            "home": str(tmp),
            "rest_port": 1,
            "federation_port": 2,
            "tls": {"cert": "c", "key": "k"},
            "peers": {
                10000: {"host": "127.0.0.1", "port": 3, "ca": "ca"},
                10001: {"host": "127.0.0.1", "port": 4, "ca": "ca", "attestation": {"mode": "none"}},
            },
            "attestation": attestation,
        }
    )


def test_verdicts_are_cached_until_the_collateral_expires(collateral_dir: Path, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    from unseen.transport.peer_attestation import PeerAttestation

    attestation: dict[str, object] = {
        "mode": "sgx-dcap",
        "policy": {"mrenclave": [MRENCLAVE], "collateral": {"directory": str(collateral_dir)}},
    }
    checker = PeerAttestation(node_config(tmp_path, attestation))
    der = certificate_with(legacy_extension(QUOTE)).public_bytes(serialization.Encoding.DER)
    first = checker.verdict(10000, der, INSIDE)
    assert first is not None and [r.field for r in first.reasons] == ["report_data", "tcb_status"]
    assert checker.verdict(10000, der, INSIDE + 60) is first  # cached
    assert first.valid_until is not None
    later = checker.verdict(10000, der, first.valid_until + 1)  # collateral expired: verified again, and refused
    assert later is not first and later is not None
    assert [r.field for r in later.reasons] == ["quote verification"] and "expired" in later.reasons[0].got
    assert checker.verdict(10001, der, INSIDE) is None  # this partner's entry says mode: none


def test_pccs_collateral_is_fetched_with_bounded_requests() -> None:
    import json

    import httpx

    from unseen.attestation.collateral import fetch_from_pccs, load_collateral_json

    sample = json.loads((FIXTURES / "sgx_quote_collateral.json").read_text())
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        path = request.url.path.rsplit("/", 1)[-1]
        if path == "pckcrl":
            return httpx.Response(
                200,
                content=bytes.fromhex(sample["pck_crl"]),
                headers={"SGX-PCK-CRL-Issuer-Chain": quote_url(sample["pck_crl_issuer_chain"])},
            )
        if path == "tcb":
            assert request.url.params["fmspc"] == "00a067110000"
            body = {"tcbInfo": json.loads(sample["tcb_info"]), "signature": sample["tcb_info_signature"]}
            return httpx.Response(
                200, json=body, headers={"TCB-Info-Issuer-Chain": quote_url(sample["tcb_info_issuer_chain"])}
            )
        if path == "identity":
            body = {"enclaveIdentity": json.loads(sample["qe_identity"]), "signature": sample["qe_identity_signature"]}
            return httpx.Response(
                200,
                json=body,
                headers={"SGX-Enclave-Identity-Issuer-Chain": quote_url(sample["qe_identity_issuer_chain"])},
            )
        return httpx.Response(200, content=bytes.fromhex(sample["root_ca_crl"]))

    text = fetch_from_pccs("https://pccs.example", "00a067110000", 5.0, transport=httpx.MockTransport(answer))
    collateral, _ = load_collateral_json(text)
    import dcap_qvl

    assert dcap_qvl.verify(QUOTE, collateral, INSIDE).status == "ConfigurationAndSWHardeningNeeded"
    assert seen == [f"/sgx/certification/v4/{p}" for p in ("pckcrl", "tcb", "qe/identity", "rootcacrl")]


def quote_url(text: str) -> str:
    from urllib.parse import quote

    return quote(text)


def test_tcg_dice_binding_goes_through_the_claims() -> None:
    from unseen.attestation.binding import check_binding

    key_holder = certificate_with(legacy_extension(QUOTE))
    claims = dice_claims(public_key_hash(key_holder))
    evidence = find_evidence(certificate_with(dice_extension(QUOTE, claims)))
    assert evidence is not None
    bound = report_data_for(hashlib.sha256(claims).digest())
    assert check_binding(key_holder, evidence, bound) is None
    reason = check_binding(key_holder, evidence, report_data_for(public_key_hash(key_holder)))
    assert reason is not None and reason.field == "report_data"  # the key's hash itself is not the DICE binding
    other = certificate_with(legacy_extension(QUOTE))
    reason = check_binding(other, evidence, bound)
    assert reason is not None and reason.field == "claims pubkey-hash"


def test_two_evidence_extensions_or_oversized_evidence_are_refused() -> None:
    from cryptography.hazmat.primitives import hashes

    ca_key, ca_cert = create_ca("test CA")
    builder = (
        x509.CertificateBuilder()
        .subject_name(ca_cert.subject)
        .issuer_name(ca_cert.subject)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    )
    both = builder.add_extension(legacy_extension(QUOTE), critical=False).add_extension(
        legacy_extension(QUOTE, as_gramine_emits=False), critical=False
    )
    with pytest.raises(AttestationError, match="one evidence extension"):
        find_evidence(both.sign(ca_key, hashes.SHA256()))
    huge = builder.add_extension(legacy_extension(bytes(40_000)), critical=False)
    with pytest.raises(AttestationError, match="evidence size"):
        find_evidence(huge.sign(ca_key, hashes.SHA256()))
