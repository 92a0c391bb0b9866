"""The energy of a request served by hardware nobody here can meter: an estimate, labelled as one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RemoteEstimate:
    """The paper's footnote-12 model for any remote endpoint, whose hardware nobody here can meter:
    a request occupies `power_kw` for `prefill_s` plus its output tokens at `tokens_per_s`, scaled by
    `pue`. Figures from it are estimates of that model, never measurements; `constants` go on the run."""

    model: str
    tokens_per_s: float = 113.7
    prefill_s: float = 0.5
    power_kw: float = 7.7
    pue: float = 0.18

    def __post_init__(self) -> None:
        if self.tokens_per_s <= 0 or self.prefill_s < 0 or self.power_kw <= 0 or self.pue <= 0:
            raise ValueError("prefill must be >= 0, and speed, power and pue > 0")

    def decode_s(self, output_tokens: float) -> float:
        return output_tokens / self.tokens_per_s

    def energy_j(self, output_tokens: float) -> float:
        """Estimated energy of one request with `output_tokens` output tokens (linear, so a mean works)."""
        return self.power_kw * (self.prefill_s + self.decode_s(output_tokens)) * self.pue * 1000.0

    @property
    def source(self) -> str:
        return (f"estimate for remote model {self.model} (paper's footnote 12 model): energy = {self.power_kw:g} kW "
                f"x ({self.prefill_s:g} s prefill + output tokens / {self.tokens_per_s:g} tok/s) x {self.pue:g}")

    def constants(self) -> dict[str, float]:
        return {"tokens_per_s": self.tokens_per_s, "prefill_s": self.prefill_s, "power_kw": self.power_kw,
                "pue": self.pue}
