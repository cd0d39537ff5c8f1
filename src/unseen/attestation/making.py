"""Making this node's evidence: on Gramine, from ``/dev/attestation``; in simulated mode, in software.

On Gramine the node writes the 64-byte report data (its TLS key's hash) to ``user_report_data`` and reads
``quote``: the enclave's quote over that report data. The key is generated inside the enclave (it is the
node's TLS key, kept on the encrypted mount) and never leaves it; only its certificate does.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cryptography import x509

from unseen.attestation.binding import report_data_for
from unseen.attestation.evidence import OID_UNSEEN_SIMULATED, legacy_extension
from unseen.attestation.quote import MAX_QUOTE_BYTES
from unseen.attestation.simulated import INSECURE_BANNER, load_or_create_key, make_simulated_quote
from unseen.attestation.verdict import refuse
from unseen.config.attestation import AttestationConfig, AttestationMode

log = logging.getLogger(__name__)


def gramine_quote(key_hash: bytes, device_dir: Path = Path("/dev/attestation")) -> bytes:
    """The enclave's quote whose report data is ``key_hash`` (zero-padded), from Gramine's pseudo-files."""
    target = device_dir / "user_report_data"
    if not target.exists():
        raise refuse("attestation device", f"{target} (run inside Gramine with sgx.remote_attestation)", "missing")
    target.write_bytes(report_data_for(key_hash))
    with (device_dir / "quote").open("rb") as handle:
        quote = handle.read(MAX_QUOTE_BYTES + 1)
    if not quote or len(quote) > MAX_QUOTE_BYTES:
        raise refuse("attestation device quote", f"1 to {MAX_QUOTE_BYTES} bytes", f"{len(quote)} bytes")
    return quote


def evidence_extension(config: AttestationConfig, key_hash: bytes, home: Path) -> x509.UnrecognizedExtension:
    """The certificate extension carrying this node's evidence for the key whose hash is ``key_hash``."""
    if config.mode == AttestationMode.SGX_DCAP:
        return legacy_extension(gramine_quote(key_hash, config.device_dir))
    if config.mode == AttestationMode.SIMULATED:
        if config.simulated is None:
            raise refuse("attestation.simulated", "the identity to claim (mrenclave, mrsigner, ...)", "none")
        log.warning(INSECURE_BANNER)
        path = config.simulated.signing_key
        key = load_or_create_key(path if path.is_absolute() else home / path)
        quote = make_simulated_quote(config.simulated, report_data_for(key_hash), key)
        return x509.UnrecognizedExtension(OID_UNSEEN_SIMULATED, quote)
    raise refuse("attestation.mode", "sgx-dcap or simulated", config.mode.value)
