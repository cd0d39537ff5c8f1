"""Intel collateral for a quote: from a local folder, or fetched from a PCCS with bounded requests, cached.

Collateral (TCB info, QE identity, their issuer chains, the PCK and root CA CRLs) is what dcap-qvl checks a
quote against. It expires: ``expires_at`` is the earliest ``nextUpdate`` of the TCB info and QE identity,
after which a verdict made with it is stale and the evidence is checked again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from unseen.attestation.verdict import AttestationError, refuse
from unseen.config.attestation import CollateralSource

if TYPE_CHECKING:
    import dcap_qvl

MAX_COLLATERAL_BYTES = 1024 * 1024
_FMSPC_CHARS = frozenset("0123456789abcdefABCDEF")


def _timestamp(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def expires_at(collateral_json: dict[str, Any]) -> int:
    """The earliest nextUpdate of the TCB info and the QE identity, Unix seconds."""
    times = []
    for key, inner in (("tcb_info", "tcbInfo"), ("qe_identity", "enclaveIdentity")):
        try:
            document = json.loads(collateral_json[key])
            times.append(
                _timestamp(document[inner]["nextUpdate"]) if inner in document else _timestamp(document["nextUpdate"])
            )
        except (KeyError, TypeError, ValueError, json.JSONDecodeError):
            raise refuse(f"collateral {key}", "JSON with nextUpdate", "none") from None
    return min(times)


def load_collateral_json(text: str) -> tuple[dcap_qvl.QuoteCollateralV3, int]:
    import dcap_qvl

    try:
        data = json.loads(text)
        collateral = dcap_qvl.QuoteCollateralV3.from_json(text)
    except (ValueError, json.JSONDecodeError) as exc:
        raise refuse("collateral", "dcap-qvl collateral JSON", f"unreadable ({str(exc)[:80]})") from None
    return collateral, expires_at(data)


class CollateralProvider:
    """Collateral per FMSPC from one source; fetched collateral is kept until it expires."""

    def __init__(self, source: CollateralSource) -> None:
        self.source = source
        self._cache: dict[str, tuple[dcap_qvl.QuoteCollateralV3, int]] = {}
        self._lock = threading.Lock()

    def get(self, fmspc: str, raw_quote: bytes, now: int) -> tuple[dcap_qvl.QuoteCollateralV3, int]:
        if not (len(fmspc) == 12 and set(fmspc) <= _FMSPC_CHARS):
            raise refuse("quote fmspc", "12 hexadecimal digits", repr(fmspc[:16]))
        fmspc = fmspc.lower()
        with self._lock:
            cached = self._cache.get(fmspc)
            if cached is not None and cached[1] > now:
                return cached
        if self.source.directory is not None:
            found = self._from_directory(self.source.directory, fmspc)
        else:
            found = self._from_pccs(fmspc, raw_quote)
        with self._lock:
            self._cache[fmspc] = found
        return found

    @staticmethod
    def _from_directory(directory: Path, fmspc: str) -> tuple[dcap_qvl.QuoteCollateralV3, int]:
        candidates = (
            [directory] if directory.is_file() else [directory / f"{fmspc}.json", directory / "collateral.json"]
        )
        for path in candidates:
            if path.is_file():
                if path.stat().st_size > MAX_COLLATERAL_BYTES:
                    raise refuse("collateral file", f"at most {MAX_COLLATERAL_BYTES} bytes", str(path))
                return load_collateral_json(path.read_text(encoding="utf-8"))
        raise refuse("collateral", f"{fmspc}.json or collateral.json in {directory}", "no such file")

    def _from_pccs(self, fmspc: str, raw_quote: bytes) -> tuple[dcap_qvl.QuoteCollateralV3, int]:
        text = fetch_from_pccs(str(self.source.pccs_url), fmspc, self.source.timeout_s)
        if self.source.cache_dir is not None:
            self.source.cache_dir.mkdir(parents=True, exist_ok=True)
            (self.source.cache_dir / f"{fmspc}.json").write_text(text, encoding="utf-8")
        return load_collateral_json(text)


def fetch_from_pccs(base_url: str, fmspc: str, timeout_s: float, transport: Any = None) -> str:
    """Collateral for ``fmspc`` from a PCCS (Intel's v4 API), as dcap-qvl's JSON. Every request is bounded by
    ``timeout_s`` and every answer by ``MAX_COLLATERAL_BYTES``."""
    import httpx

    base = base_url.rstrip("/") + "/sgx/certification/v4"
    timeout = httpx.Timeout(timeout_s)

    def get(client: httpx.Client, path: str, params: dict[str, str]) -> httpx.Response:
        try:
            response = client.get(base + path, params=params)
        except httpx.HTTPError as exc:
            raise refuse("collateral", f"an answer from {base_url}", f"{type(exc).__name__}") from None
        if response.status_code != 200 or len(response.content) > MAX_COLLATERAL_BYTES:
            raise refuse("collateral", f"200 from {base_url}{path}", f"{response.status_code}")
        return response

    def header(response: httpx.Response, *names: str) -> str:
        for name in names:
            if name in response.headers:
                return unquote(response.headers[name])
        raise refuse("collateral", f"header {names[0]}", "missing")

    with httpx.Client(timeout=timeout, transport=transport, follow_redirects=False) as client:
        pck_crl = get(client, "/pckcrl", {"ca": "processor", "encoding": "der"})
        tcb = get(client, "/tcb", {"fmspc": fmspc})
        qe = get(client, "/qe/identity", {})
        root_crl = get(client, "/rootcacrl", {})
    try:
        tcb_doc = json.loads(tcb.text)
        qe_doc = json.loads(qe.text)
        root_crl_bytes = root_crl.content
        with contextlib.suppress(ValueError):  # some PCCS answer the root CA CRL hex-encoded
            root_crl_bytes = bytes.fromhex(root_crl.text)
        collateral = json.dumps(
            {
                "pck_crl_issuer_chain": header(pck_crl, "SGX-PCK-CRL-Issuer-Chain"),
                "root_ca_crl": root_crl_bytes.hex(),
                "pck_crl": pck_crl.content.hex(),
                "tcb_info_issuer_chain": header(tcb, "TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"),
                "tcb_info": _signed_member(tcb.text, "tcbInfo"),
                "tcb_info_signature": tcb_doc["signature"],
                "qe_identity_issuer_chain": header(qe, "SGX-Enclave-Identity-Issuer-Chain"),
                "qe_identity": _signed_member(qe.text, "enclaveIdentity"),
                "qe_identity_signature": qe_doc["signature"],
            }
        )
    except AttestationError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise refuse("collateral", f"Intel's JSON from {base_url}", f"unreadable ({type(exc).__name__})") from None
    return collateral


def _signed_member(text: str, key: str) -> str:
    """The signed object exactly as the PCCS sent it: Intel signs these bytes, so re-encoding would break it.
    The answer's layout is ``{"<key>":{...},"signature":"<hex>"}``."""
    body = text.strip()
    start, end = f'{{"{key}":', ',"signature":'
    cut = body.rfind(end)
    if not body.startswith(start) or cut < 0:
        raise refuse("collateral", f'{{"{key}": ..., "signature": ...}}', "another layout")
    member = body[len(start) : cut]
    json.loads(member)  # well-formed, or JSONDecodeError (a ValueError) for the caller
    return member
