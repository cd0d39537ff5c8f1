"""SGX DCAP quote v3: the header and the enclave's report body, read with bounds checks.

Layout (Intel SGX ECDSA Quote Library reference, "Quote Format"): a 48-byte header, a 384-byte report body,
a 4-byte little-endian signature-data length, then exactly that many bytes of signature data. Every offset
is fixed, and a quote whose declared length disagrees with its size is refused before any field is used.
This parser trusts nothing it reads: signatures are checked separately (``dcap.py``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from unseen.attestation.verdict import refuse

HEADER_SIZE = 48
REPORT_BODY_SIZE = 384
SIGNED_SIZE = HEADER_SIZE + REPORT_BODY_SIZE  # what the attestation key signs
MAX_QUOTE_BYTES = 16 * 1024  # Gramine's SGX_QUOTE_MAX_SIZE is 8 KiB; a v3 quote with its PCK chain is ~4.6 KiB
QUOTE_VERSION = 3
TEE_TYPE_SGX = 0
ATTESTATION_KEY_ECDSA_P256 = 2

# SGX enclave attribute flags (the first 8 bytes of ATTRIBUTES, little-endian).
FLAG_INIT = 0x01
FLAG_DEBUG = 0x02
FLAG_MODE64BIT = 0x04
FLAG_PROVISIONKEY = 0x10
FLAG_EINITTOKENKEY = 0x20
FLAG_KSS = 0x80
FLAG_NAMES = {
    FLAG_INIT: "INIT",
    FLAG_DEBUG: "DEBUG",
    FLAG_MODE64BIT: "MODE64BIT",
    FLAG_PROVISIONKEY: "PROVISIONKEY",
    FLAG_EINITTOKENKEY: "EINITTOKENKEY",
    FLAG_KSS: "KSS",
}


@dataclass(frozen=True)
class QuoteHeader:
    version: int
    attestation_key_type: int
    tee_type: int
    qe_svn: int
    pce_svn: int
    qe_vendor_id: bytes


@dataclass(frozen=True)
class ReportBody:
    """The enclave's identity as the CPU measured it."""

    cpu_svn: bytes
    misc_select: int
    attributes: bytes
    mr_enclave: bytes
    mr_signer: bytes
    isv_prod_id: int
    isv_svn: int
    report_data: bytes

    @property
    def flags(self) -> int:
        return int.from_bytes(self.attributes[:8], "little")

    @property
    def xfrm(self) -> int:
        return int.from_bytes(self.attributes[8:16], "little")

    @property
    def debug(self) -> bool:
        return bool(self.flags & FLAG_DEBUG)

    def flag_names(self) -> list[str]:
        return [name for bit, name in FLAG_NAMES.items() if self.flags & bit]

    def to_bytes(self) -> bytes:
        """The 384-byte wire form (reserved fields zero), as the simulated mode signs it."""
        return b"".join(
            (
                self.cpu_svn,
                struct.pack("<I", self.misc_select),
                bytes(28),
                self.attributes,
                self.mr_enclave,
                bytes(32),
                self.mr_signer,
                bytes(96),
                struct.pack("<HH", self.isv_prod_id, self.isv_svn),
                bytes(60),
                self.report_data,
            )
        )


@dataclass(frozen=True)
class Quote:
    header: QuoteHeader
    body: ReportBody
    raw: bytes


def parse_report_body(data: bytes) -> ReportBody:
    if len(data) != REPORT_BODY_SIZE:
        raise refuse("report body", f"{REPORT_BODY_SIZE} bytes", f"{len(data)} bytes")
    misc_select = struct.unpack_from("<I", data, 16)[0]
    isv_prod_id, isv_svn = struct.unpack_from("<HH", data, 256)
    return ReportBody(
        cpu_svn=data[0:16],
        misc_select=misc_select,
        attributes=data[48:64],
        mr_enclave=data[64:96],
        mr_signer=data[128:160],
        isv_prod_id=isv_prod_id,
        isv_svn=isv_svn,
        report_data=data[320:384],
    )


def parse_quote(raw: bytes) -> Quote:
    """A v3 SGX quote's fields; refuses anything else, truncated, padded, or oversized."""
    size = len(raw)
    if size > MAX_QUOTE_BYTES:
        raise refuse("quote size", f"at most {MAX_QUOTE_BYTES} bytes", f"{size} bytes")
    if size < SIGNED_SIZE + 4:
        raise refuse("quote size", f"at least {SIGNED_SIZE + 4} bytes", f"{size} bytes")
    version, key_type, tee_type, qe_svn, pce_svn = struct.unpack_from("<HHIHH", raw, 0)
    if version != QUOTE_VERSION:
        raise refuse("quote version", str(QUOTE_VERSION), str(version))
    if tee_type != TEE_TYPE_SGX:
        raise refuse("quote tee_type", f"{TEE_TYPE_SGX} (SGX)", str(tee_type))
    if key_type != ATTESTATION_KEY_ECDSA_P256:
        raise refuse("quote attestation_key_type", f"{ATTESTATION_KEY_ECDSA_P256} (ECDSA-256)", str(key_type))
    (signature_size,) = struct.unpack_from("<I", raw, SIGNED_SIZE)
    if SIGNED_SIZE + 4 + signature_size != size:
        raise refuse("quote signature_data_len", f"{size - SIGNED_SIZE - 4}", str(signature_size))
    header = QuoteHeader(version, key_type, tee_type, qe_svn, pce_svn, raw[12:28])
    return Quote(header=header, body=parse_report_body(raw[HEADER_SIZE:SIGNED_SIZE]), raw=raw)
