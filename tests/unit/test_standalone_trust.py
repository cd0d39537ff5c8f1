"""The standalone site gives each party its own CA and names it as that party's anchor in every other node."""

from __future__ import annotations

from pathlib import Path

import yaml
from cryptography import x509

from unseen.config.node import load_node_config
from unseen.node.standalone import StandaloneSite
from unseen.transport.trust import PeerTrust

PARTIES = [9999, 10000, 10001]


def test_each_party_has_its_own_ca_and_is_every_other_nodes_anchor_for_it_only(tmp_path: Path) -> None:
    site = StandaloneSite(tmp_path)
    site.configure(PARTIES, 20000)
    cas = {party: (site.node_dir(party) / "ca" / "ca.crt").read_bytes() for party in PARTIES}
    assert len(set(cas.values())) == len(PARTIES)
    for party in PARTIES:
        config = load_node_config(site.node_config_path(party))
        assert set(config.peers) == set(PARTIES) - {party}
        trust = PeerTrust.of(config.peers)
        for other in config.peers:
            assert trust.anchor(other).pem == cas[other]
        own = x509.load_pem_x509_certificate(config.tls.cert.read_bytes())
        own.verify_directly_issued_by(x509.load_pem_x509_certificate(cas[party]))


def test_a_site_from_the_shared_ca_days_is_rewritten_on_configure(tmp_path: Path) -> None:
    """An old node.yaml with tls.trusted_cas is refused when loaded, but `standalone start` replaces it."""
    site = StandaloneSite(tmp_path)
    site.configure(PARTIES[:2], 20000)
    path = site.node_config_path(9999)
    old = yaml.safe_load(path.read_text())
    old["tls"]["trusted_cas"] = ["../../ca/ca.crt"]
    old["peers"] = {10000: {"host": "127.0.0.1", "port": 20003}}
    old["audit_dir"] = "audit"  # an operator's own setting survives
    path.write_text(yaml.safe_dump(old))
    site.configure(PARTIES[:2], 20000)
    config = load_node_config(path)
    assert config.peers[10000].ca is not None
    assert config.audit_dir is not None
