"""Pure metric functions on plain data: quality (label F1), latency, carbon, the GPT-4o reference and the
Overall Metric. Nothing here touches an engine, a GPU or a tracker, so every number can be unit-tested."""
