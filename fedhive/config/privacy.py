"""Config sections for privacy (DP, adaptive clipping, SecAgg) and compression."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from fedhive.config.sections import Section


class AdaptiveClipConfig(Section):
    """Adaptive clipping (Andrew et al. 2021): the clip norm C tracks the `target_quantile`
    (gamma) of update norms, C <- C * exp(-lr * (b~ - gamma)), b~ the noisy fraction of
    unclipped updates; `count_noise` is sigma_b (default: expected cohort size / 20)."""

    enabled: bool = False
    target_quantile: float = Field(0.5, gt=0, lt=1)
    lr: float = Field(0.2, gt=0)
    count_noise: float | None = Field(None, gt=0)


class SecAggConfig(Section):
    """Secure-aggregation numerics: each coordinate clipped to [-range, range], quantized to
    `quant_bits`-bit integers, summed modulo 2^`bits`."""

    enabled: bool = False
    range: float = Field(1.0, gt=0)
    quant_bits: int = Field(16, ge=1, le=32)
    bits: int = Field(32, ge=2, le=62)


class PrivacyConfig(Section):
    """Differential privacy: `central` (clip per client, noise on the sum, user-level DP) or
    `local` (each client clips and adds noise before upload); plus secure aggregation."""

    mechanism: Literal["none", "central", "local"] = "none"
    clip: float = Field(1.0, gt=0, description="L2 clip norm S (initial C when adaptive)")
    noise_multiplier: float = Field(1.0, ge=0, description="z: noise std is z * S")
    target_epsilon: float | None = Field(None, gt=0, description="calibrate z to reach it")
    delta: float = Field(1e-5, gt=0, lt=1)
    accountant: Literal["pld", "rdp"] = "pld"
    pld_discretization: float = Field(
        1e-4, gt=0, le=0.1, description="PLD grid step; 1e-4 is dp-accounting's default, coarser is faster "
        "and only more pessimistic")
    adaptive_clip: AdaptiveClipConfig = Field(default_factory=AdaptiveClipConfig)
    secagg: SecAggConfig = Field(default_factory=SecAggConfig)

    @model_validator(mode="after")
    def _consistent(self) -> "PrivacyConfig":
        if self.adaptive_clip.enabled and self.mechanism != "central":
            raise ValueError("adaptive_clip needs mechanism=central")
        if self.adaptive_clip.enabled and self.secagg.enabled:
            raise ValueError("adaptive_clip and secagg together are not supported")
        if self.target_epsilon is not None and self.mechanism == "none":
            raise ValueError("target_epsilon needs mechanism=central or local")
        return self


class CompressionConfig(Section):
    """Upload compression: `qsgd` (stochastic quantization to `levels` levels), `topk` /
    `randk` (keep `fraction` of the coordinates), `fp16`/`bf16`/`fp8` casting; optional
    error feedback (the residual stays with the client)."""

    name: Literal["none", "qsgd", "topk", "randk", "fp16", "bf16", "fp8"] = "none"
    levels: int = Field(16, ge=1, description="QSGD levels s")
    fraction: float = Field(0.01, gt=0, le=1, description="kept fraction (topk, randk)")
    error_feedback: bool = False

    @model_validator(mode="after")
    def _feedback_needs_codec(self) -> "CompressionConfig":
        if self.error_feedback and self.name == "none":
            raise ValueError("error_feedback needs a compression name")
        return self


# --- system heterogeneity, simulated clock and asynchronous training -----------------
