"""``attestation:`` in node.yaml and in each partner's entry: the mode, the policy, where collateral comes from.

Defaults refuse rather than accept: mode ``none`` means no evidence is made or required; a policy accepts
only TCB status UpToDate, no debug enclave and no simulated evidence unless it says otherwise.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

_HEX32 = re.compile(r"^[0-9a-f]{64}$")
TCB_STATUSES = (
    "UpToDate",
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",
    "OutOfDate",
    "OutOfDateConfigurationNeeded",
)


def _hex32(value: str) -> str:
    value = value.lower()
    if not _HEX32.match(value):
        raise ValueError("must be 64 hexadecimal digits (a 32-byte measurement)")
    return value


Measurement = Annotated[str, AfterValidator(_hex32)]


class AttestationMode(StrEnum):
    NONE = "none"
    SGX_DCAP = "sgx-dcap"
    SIMULATED = "simulated"  # INSECURE: development and tests only


class CollateralSource(BaseModel):
    """Where Intel's collateral (TCB info, QE identity, CRLs) comes from: a PCCS, or a folder of JSON files
    named ``<fmspc>.json`` (or one ``collateral.json``; ``directory`` may also name one file) in dcap-qvl's format."""

    model_config = ConfigDict(extra="forbid")

    pccs_url: str | None = Field(None, pattern=r"^https://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~\-/]*)?$")
    directory: Path | None = None
    timeout_s: float = Field(10.0, gt=0, le=120, description="bound on each PCCS request")
    cache_dir: Path | None = Field(None, description="where fetched collateral is kept; default: in memory only")

    @model_validator(mode="after")
    def _one_source(self) -> CollateralSource:
        if (self.pccs_url is None) == (self.directory is None):
            raise ValueError("give exactly one of pccs_url and directory")
        return self


class Policy(BaseModel):
    """What a partner's evidence must show. Each check that fails is one reason (field, expected, got)."""

    model_config = ConfigDict(extra="forbid")

    mrenclave: list[Measurement] = Field(default_factory=list, description="allowed MRENCLAVE values")
    mrsigner: list[Measurement] = Field(default_factory=list, description="allowed MRSIGNER values")
    isv_prod_id: int | None = Field(None, ge=0, le=0xFFFF)
    min_isv_svn: int = Field(0, ge=0, le=0xFFFF)
    allow_debug: bool = False
    tcb_statuses: list[str] = Field(default_factory=lambda: ["UpToDate"], min_length=1)
    allow_simulated: bool = Field(False, description="accept INSECURE simulated evidence (development only)")
    simulated_signers: list[Measurement] = Field(
        default_factory=list, description="Ed25519 keys (hex) whose simulated quotes are believed; empty: any"
    )
    collateral: CollateralSource | None = None

    @model_validator(mode="after")
    def _checks_something(self) -> Policy:
        if not self.mrenclave and not self.mrsigner:
            raise ValueError("name at least one allowed mrenclave or mrsigner")
        unknown = sorted(set(self.tcb_statuses) - set(TCB_STATUSES))
        if unknown:
            raise ValueError(f"unknown TCB status {unknown}; known: {', '.join(TCB_STATUSES)}")
        return self


class SimulatedIdentity(BaseModel):
    """What this node claims in simulated mode (INSECURE: nothing measures it)."""

    model_config = ConfigDict(extra="forbid")

    mrenclave: Measurement
    mrsigner: Measurement
    isv_prod_id: int = Field(0, ge=0, le=0xFFFF)
    isv_svn: int = Field(0, ge=0, le=0xFFFF)
    debug: bool = False
    signing_key: Path = Field(Path("attestation/simulated.key"), description="relative to the node's home")


class AttestationConfig(BaseModel):
    """For the node: which evidence it makes and the policy partners must meet unless their entry overrides
    it. For a partner's entry: the policy that partner must meet (its ``mode`` says what to expect)."""

    model_config = ConfigDict(extra="forbid")

    mode: AttestationMode = AttestationMode.NONE
    policy: Policy | None = None
    device_dir: Path = Field(Path("/dev/attestation"), description="Gramine's attestation files")
    simulated: SimulatedIdentity | None = None

    @model_validator(mode="after")
    def _policy_when_required(self) -> AttestationConfig:
        if self.mode != AttestationMode.NONE and self.policy is None:
            raise ValueError(f"mode {self.mode.value} needs a policy")
        if self.mode == AttestationMode.SIMULATED and self.policy is not None and not self.policy.allow_simulated:
            raise ValueError("mode simulated needs policy.allow_simulated: true (simulated evidence is INSECURE)")
        if self.mode == AttestationMode.SGX_DCAP and self.policy is not None and self.policy.collateral is None:
            raise ValueError("mode sgx-dcap needs policy.collateral (pccs_url or directory)")
        return self


def peer_policy(node: AttestationConfig | None, peer: AttestationConfig | None) -> AttestationConfig | None:
    """The attestation a partner must pass: its own entry's if it has one (``mode: none`` there exempts that
    partner), else the node's; ``None`` when nothing is required."""
    chosen = peer if peer is not None else node
    return chosen if chosen is not None and chosen.mode != AttestationMode.NONE else None
