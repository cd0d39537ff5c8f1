"""Tests for ``unseen cert``: identities, the exchange file, and importing partners into node.yaml."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from unseen.cli.main import app
from unseen.config.node import load_node_config
from unseen.transport.tls import party_id_of
from unseen.transport.trust import PeerTrust, fingerprint, load_one_certificate

runner = CliRunner()


def cli(*args: str, ok: bool = True) -> str:
    result = runner.invoke(app, list(args))
    assert (result.exit_code == 0) == ok, result.output
    return result.output


def node_folder(tmp_path: Path, name: str, party: int, host: str, self_signed: bool = False) -> Path:
    """A party's folder as an operator makes it: identity from `unseen cert`, a node.yaml naming it."""
    folder = tmp_path / name
    tls = folder / "tls"
    if self_signed:
        cli("cert", "init", "--self-signed", "--party", str(party), "--host", host, "--dir", str(tls))
    else:
        cli("cert", "init", "--dir", str(tls))
        cli("cert", "issue", "--party", str(party), "--host", host, "--dir", str(tls))
    config = {
        "party_id": party,
        "home": "state",
        "rest_port": 8080,
        "federation_host": host,
        "federation_port": 9370,
        "tls": {"cert": "tls/node.crt", "key": "tls/node.key"},
    }
    (folder / "node.yaml").write_text(yaml.safe_dump(config))
    return folder


def anchor_fingerprint(folder: Path, self_signed: bool = False) -> str:
    path = folder / "tls" / ("node.crt" if self_signed else "ca.crt")
    return fingerprint(load_one_certificate(path.read_bytes(), str(path)))


def test_init_and_issue_write_owner_only_keys_and_a_certificate_naming_the_party(tmp_path: Path) -> None:
    folder = node_folder(tmp_path, "bank", 10000, "bank.example")
    for key in ("ca.key", "node.key"):
        assert stat.S_IMODE((folder / "tls" / key).stat().st_mode) == 0o600
    cert = (folder / "tls" / "node.crt").read_bytes()
    assert party_id_of(cert) == 10000
    shown = cli("cert", "show", str(folder / "tls" / "node.crt"))
    assert "party id:    10000" in shown
    assert "party-10000, unseen://party/10000, bank.example" in shown
    assert "issuer:      CN=Unseen party CA" in shown
    assert f"SHA-256:     {fingerprint(load_one_certificate(cert, 'c'))}" in shown


def test_init_refuses_to_overwrite_an_identity_partners_trust(tmp_path: Path) -> None:
    cli("cert", "init", "--dir", str(tmp_path / "tls"))
    before = (tmp_path / "tls" / "ca.crt").read_bytes()
    assert "pass --force" in cli("cert", "init", "--dir", str(tmp_path / "tls"), ok=False)
    assert (tmp_path / "tls" / "ca.crt").read_bytes() == before


def test_issue_refuses_a_host_that_is_not_a_name(tmp_path: Path) -> None:
    cli("cert", "init", "--dir", str(tmp_path / "tls"))
    out = cli("cert", "issue", "--party", "1", "--host", "bank.example/../x", "--dir", str(tmp_path / "tls"), ok=False)
    assert "not a host name" in out


def test_export_then_import_adds_the_partner_with_its_own_anchor(tmp_path: Path) -> None:
    a = node_folder(tmp_path, "a", 9999, "10.77.0.1", self_signed=True)
    b = node_folder(tmp_path, "b", 10000, "bank.example")
    for folder in (a, b):
        cli("cert", "export", "-c", str(folder / "node.yaml"), "-o", str(folder / "exchange.yaml"))
    exchange = yaml.safe_load((b / "exchange.yaml").read_text())
    assert exchange["party_id"] == 10000 and exchange["federation"] == {"host": "bank.example", "port": 9370}
    assert exchange["anchor"]["kind"] == "ca" and exchange["fingerprint"] == anchor_fingerprint(b)
    out = cli(
        "cert", "import", str(b / "exchange.yaml"), "-c", str(a / "node.yaml"), "--fingerprint", anchor_fingerprint(b)
    )
    assert "party 10000 added" in out
    cli("cert", "import", str(a / "exchange.yaml"), "-c", str(b / "node.yaml"))
    config_a, config_b = load_node_config(a / "node.yaml"), load_node_config(b / "node.yaml")
    assert config_a.peers[10000].ca == (a / "partners" / "10000.crt").resolve()
    assert PeerTrust.of(config_a.peers).anchor(10000).fingerprint == anchor_fingerprint(b)
    assert config_b.peers[9999].pinned_cert is not None
    assert PeerTrust.of(config_b.peers).anchor(9999).fingerprint == anchor_fingerprint(a, self_signed=True)


def test_import_refuses_a_fingerprint_other_than_the_one_told(tmp_path: Path) -> None:
    a = node_folder(tmp_path, "a", 9999, "10.77.0.1")
    b = node_folder(tmp_path, "b", 10000, "10.77.0.2")
    cli("cert", "export", "-c", str(b / "node.yaml"), "-o", str(b / "x.yaml"))
    out = cli("cert", "import", str(b / "x.yaml"), "-c", str(a / "node.yaml"), "--fingerprint", "00" * 32, ok=False)
    assert "do not import it" in out
    assert "peers" not in yaml.safe_load((a / "node.yaml").read_text())


def test_import_refuses_a_changed_anchor_unless_replace(tmp_path: Path) -> None:
    a = node_folder(tmp_path, "a", 9999, "10.77.0.1")
    b = node_folder(tmp_path, "b", 10000, "10.77.0.2")
    cli("cert", "export", "-c", str(b / "node.yaml"), "-o", str(b / "old.yaml"))
    cli("cert", "import", str(b / "old.yaml"), "-c", str(a / "node.yaml"))
    cli("cert", "init", "--dir", str(b / "tls"), "--force")  # b rotates its CA
    cli("cert", "issue", "--party", "10000", "--host", "10.77.0.2", "--dir", str(b / "tls"), "--force")
    cli("cert", "export", "-c", str(b / "node.yaml"), "-o", str(b / "new.yaml"))
    out = cli("cert", "import", str(b / "new.yaml"), "-c", str(a / "node.yaml"), ok=False)
    assert "changes its anchor" in out and "--replace" in out
    assert PeerTrust.of(load_node_config(a / "node.yaml").peers).anchor(10000).fingerprint != anchor_fingerprint(b)
    assert "replaced" in cli("cert", "import", str(b / "new.yaml"), "-c", str(a / "node.yaml"), "--replace")
    assert PeerTrust.of(load_node_config(a / "node.yaml").peers).anchor(10000).fingerprint == anchor_fingerprint(b)


def test_import_refuses_the_nodes_own_party_id_and_an_anchor_of_another_party(tmp_path: Path) -> None:
    a = node_folder(tmp_path, "a", 9999, "10.77.0.1")
    b = node_folder(tmp_path, "b", 10000, "10.77.0.2")
    cli("cert", "export", "-c", str(a / "node.yaml"), "-o", str(a / "self.yaml"))
    assert "own party id" in cli("cert", "import", str(a / "self.yaml"), "-c", str(a / "node.yaml"), ok=False)
    cli("cert", "export", "-c", str(b / "node.yaml"), "-o", str(b / "x.yaml"))
    cli("cert", "import", str(b / "x.yaml"), "-c", str(a / "node.yaml"))
    clash = yaml.safe_load((b / "x.yaml").read_text())
    clash["party_id"] = 10001  # b's CA, offered as another party's anchor
    (b / "clash.yaml").write_text(yaml.safe_dump(clash))
    assert "already party 10000's" in cli("cert", "import", str(b / "clash.yaml"), "-c", str(a / "node.yaml"), ok=False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fingerprint": "AB" * 32}, "the file states fingerprint"),
        ({"federation": {"host": "evil host\nx", "port": 9370}}, "not a host name"),
        ({"party_id": 0}, "party_id"),
        ({"extra": 1}, "extra"),
        ({"anchor": {"kind": "ca", "certificate": "not a cert"}}, "not a PEM certificate"),
    ],
)
def test_a_malformed_exchange_file_is_refused(tmp_path: Path, change: dict[str, object], message: str) -> None:
    a = node_folder(tmp_path, "a", 9999, "10.77.0.1")
    b = node_folder(tmp_path, "b", 10000, "10.77.0.2")
    cli("cert", "export", "-c", str(b / "node.yaml"), "-o", str(b / "x.yaml"))
    document = {**yaml.safe_load((b / "x.yaml").read_text()), **change}
    (b / "bad.yaml").write_text(yaml.safe_dump(document))
    assert message in cli("cert", "import", str(b / "bad.yaml"), "-c", str(a / "node.yaml"), ok=False)
    assert "peers" not in yaml.safe_load((a / "node.yaml").read_text())


def test_a_node_whose_anchor_file_was_swapped_refuses_to_load_its_trust(tmp_path: Path) -> None:
    a = node_folder(tmp_path, "a", 9999, "10.77.0.1")
    b = node_folder(tmp_path, "b", 10000, "10.77.0.2")
    c = node_folder(tmp_path, "c", 10001, "10.77.0.3")
    cli("cert", "export", "-c", str(b / "node.yaml"), "-o", str(b / "x.yaml"))
    cli("cert", "import", str(b / "x.yaml"), "-c", str(a / "node.yaml"))
    (a / "partners" / "10000.crt").write_bytes((c / "tls" / "ca.crt").read_bytes())
    with pytest.raises(ValueError, match="the file was replaced"):
        PeerTrust.of(load_node_config(a / "node.yaml").peers)
