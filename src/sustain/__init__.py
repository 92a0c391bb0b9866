"""sustain: what an LLM deployment costs (energy, latency) and what it delivers (quality)."""

__version__ = "0.1.0"
