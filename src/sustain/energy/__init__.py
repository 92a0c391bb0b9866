"""Energy: meters that sample cumulative counters on a timeline, and steady-state attribution."""
