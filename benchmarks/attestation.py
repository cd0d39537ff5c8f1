"""Cost of attesting a peer per new connection: TLS handshake plus evidence verification, cold and cached.

In one process: a gRPC server with mutual TLS on loopback presents a certificate carrying evidence; the
client side does what ``PeerClients`` does before opening a channel (``PeerAttestation.check_server``: a
TLS handshake with Python's ``ssl`` to fetch the certificate, then the verdict). Rows:

- handshake only: the probe's TLS handshake, no verification (what attestation adds on top of the channel);
- simulated, cold: handshake + a fresh verifier (Ed25519 check, binding, policy);
- simulated, cached: handshake + the verdict from the cache (same certificate);
- sgx-dcap, cold: dcap-qvl verification of the real 4,600-byte quote against its collateral (local folder,
  at a time inside its window), plus parsing, binding and policy: what a new SGX peer costs once;
- sgx-dcap, cached: the cached verdict lookup for that certificate.

    python benchmarks/attestation.py            # 200 connections per row, ~20 s
    python benchmarks/attestation.py --quick    # 20 per row

Prints a table and writes benchmarks/results/attestation.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
from cryptography.hazmat.primitives.asymmetric import ec

from unseen.attestation.evidence import legacy_extension
from unseen.config.attestation import AttestationConfig
from unseen.config.node import NodeConfig
from unseen.transport.attested_certificate import issue_attested_certificate
from unseen.transport.peer_attestation import PeerAttestation
from unseen.transport.peers import fetch_server_certificate
from unseen.transport.tls import TlsPaths, create_ca, write_certificate, write_private_key

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "sgx"
RESULTS = Path(__file__).resolve().parent / "results" / "attestation.json"
INSIDE = int(dt.datetime(2025, 7, 1, tzinfo=dt.UTC).timestamp())
MRENCLAVE = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"


def timed(n: int, action: Callable[[], object]) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    n = 20 if parser.parse_args().quick else 200
    logging.disable(logging.WARNING)  # the real quote's binding refusal would be logged once per cold row
    tmp = Path(tempfile.mkdtemp(prefix="unseen-attest-bench-"))
    ca_key, ca_cert = create_ca("bench CA")
    write_certificate(tmp / "ca.crt", ca_cert)
    sim = AttestationConfig.model_validate(
        {
            "mode": "simulated",
            "policy": {"mrenclave": ["aa" * 32], "allow_simulated": True},
            "simulated": {"mrenclave": "aa" * 32, "mrsigner": "bb" * 32, "signing_key": str(tmp / "sim.key")},
        }
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = issue_attested_certificate(ca_key, ca_cert, 10000, server_key, sim, tmp)
    write_private_key(tmp / "s.key", server_key)
    write_certificate(tmp / "s.crt", server_cert)
    client_key = ec.generate_private_key(ec.SECP256R1())
    write_private_key(tmp / "c.key", client_key)
    write_certificate(tmp / "c.crt", issue_attested_certificate(ca_key, ca_cert, 9999, client_key, sim, tmp))
    server = grpc.server(ThreadPoolExecutor(max_workers=4))
    credentials = grpc.ssl_server_credentials(
        [((tmp / "s.key").read_bytes(), (tmp / "s.crt").read_bytes())],
        root_certificates=(tmp / "ca.crt").read_bytes(),
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    tls = TlsPaths(cert=tmp / "c.crt", key=tmp / "c.key")
    address = f"127.0.0.1:{port}"

    def handshake() -> bytes:
        return fetch_server_certificate("127.0.0.1", port, tls, 10.0)

    def node(attestation: dict[str, Any]) -> NodeConfig:
        return NodeConfig.model_validate(
            {
                "party_id": 9999,
                "home": str(tmp),
                "rest_port": 1,
                "federation_port": 2,
                "tls": {"cert": str(tls.cert), "key": str(tls.key)},
                "peers": {10000: {"host": "127.0.0.1", "port": port, "ca": str(tmp / "ca.crt")}},
                "attestation": attestation,
            }
        )

    sim_node = node(sim.model_dump(mode="json"))
    cached = PeerAttestation(sim_node)
    cached.check_server(10000, handshake(), address)
    dcap_dump = {
        "mode": "sgx-dcap",
        "policy": {
            "mrenclave": [MRENCLAVE],
            "tcb_statuses": ["ConfigurationAndSWHardeningNeeded"],
            "collateral": {"directory": str(FIXTURES / "sgx_quote_collateral.json")},
        },
    }
    sgx_key = ec.generate_private_key(ec.SECP256R1())
    sgx_cert = issue_attested_certificate(
        ca_key,
        ca_cert,
        10000,
        sgx_key,
        AttestationConfig(),
        tmp,
        extension=legacy_extension((FIXTURES / "sgx_quote").read_bytes()),
    )
    from cryptography.hazmat.primitives import serialization

    sgx_der = sgx_cert.public_bytes(serialization.Encoding.DER)
    dcap_cached = PeerAttestation(node(dcap_dump))
    dcap_cached.verdict(10000, sgx_der, INSIDE)
    timed(n, handshake)  # warm-up, not reported
    rows = {
        "handshake only": timed(n, handshake),
        "simulated, cold": timed(n, lambda: PeerAttestation(sim_node).check_server(10000, handshake(), address)),
        "simulated, cached": timed(n, lambda: cached.check_server(10000, handshake(), address)),
        "sgx-dcap verify, cold": timed(n, lambda: PeerAttestation(node(dcap_dump)).verdict(10000, sgx_der, INSIDE)),
        "sgx-dcap verify, cached": timed(n, lambda: dcap_cached.verdict(10000, sgx_der, INSIDE)),
    }
    server.stop(None)
    table = [
        {"row": name, "median_ms": statistics.median(s), "p90_ms": sorted(s)[int(0.9 * len(s)) - 1], "n": len(s)}
        for name, s in rows.items()
    ]
    print(f"{'row':<26} {'median ms':>10} {'p90 ms':>10} {'n':>5}")
    for row in table:
        print(f"{row['row']:<26} {row['median_ms']:>10.3f} {row['p90_ms']:>10.3f} {row['n']:>5}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()}
    RESULTS.write_text(json.dumps({"rows": table, "machine": machine, "samples_ms": rows}, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
