"""The Overall Metric (OM) of LLMCBench, as the paper uses it to rank models against GPT-4o:

    OM = sqrt(wQ (Q_E/Q_R)^2 + wL (L_R/L_E)^2 + wE (E_R/E_E)^2)

E is the evaluated configuration, R the reference; quality Q is higher-better, latency L and energy E
lower-better, hence the inverted ratios. Weights are normalised to sum to 1, so the reference scores
exactly 1 and OM > 1 means better than the reference overall.
"""

from __future__ import annotations

import math

# (wQ, wL, wE). The paper's Figure 3 sweeps the quality weight and splits the rest between
# latency and energy; its table lists the weights as (quality, energy, latency).
WEIGHT_SCENARIOS: dict[str, tuple[float, float, float]] = {
    "quality_0": (0.0, 0.5, 0.5),
    "quality_33": (0.33, 0.335, 0.335),
    "quality_50": (0.5, 0.25, 0.25),
    "quality_80": (0.8, 0.1, 0.1),
    "quality_98": (0.98, 0.01, 0.01),
    "quality_100": (1.0, 0.0, 0.0),
    "equal": (1 / 3, 1 / 3, 1 / 3),
}


def meaningful(q_e: float, q_r: float) -> bool:
    """Whether OM can rank this run: with a zero quality (run or reference) the quality term vanishes or is
    undefined, and the latency and energy ratios alone decide, so a model that answers nothing right can
    read as "28 times better" than the reference. Such an OM is marked not meaningful, not ranked."""
    return q_e > 0 and q_r > 0


def normalise_weights(w_q: float, w_l: float, w_e: float) -> tuple[float, float, float]:
    weights = (w_q, w_l, w_e)
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise ValueError(f"weights must be finite and non-negative, got {weights}")
    total = sum(weights)
    if total == 0:
        raise ValueError("at least one weight must be positive")
    return w_q / total, w_l / total, w_e / total


def overall_metric(
    q_e: float,
    l_e: float,
    e_e: float,
    q_r: float,
    l_r: float,
    e_r: float,
    w_q: float,
    w_l: float,
    w_e: float,
) -> float:
    """OM of the evaluated (q_e, l_e, e_e) against the reference (q_r, l_r, e_r)."""
    if not q_r > 0 or not q_e >= 0:
        raise ValueError(f"quality must be >= 0 (reference > 0), got evaluated {q_e}, reference {q_r}")
    if not min(l_e, e_e, l_r, e_r) > 0:
        raise ValueError(f"latency and energy must be positive, got L {l_e}/{l_r}, E {e_e}/{e_r}")
    wq, wl, we = normalise_weights(w_q, w_l, w_e)
    return math.sqrt(wq * (q_e / q_r) ** 2 + wl * (l_r / l_e) ** 2 + we * (e_r / e_e) ** 2)
