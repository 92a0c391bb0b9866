"""`python -m sustain.engines.log_relay LOG [--verbose]`: the other end of an engine's stdout and stderr.

Every line is appended to the run's log file; the terminal gets all of it with --verbose, else only the
one-line warnings that matter (`relay`). A process of its own, so it keeps reading until the
engine and every process it started have closed the pipe, a crash included.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path



# Engine and server log lines a user must see even with the log in a file: (pattern, one-line warning).
MATTERS = (
    (r"out of memory|OutOfMemoryError|CUDA error: out of memory|Cannot allocate memory",
     "out of memory: lower batch_size or model.max_model_len, or give the job more GPUs"),
    (r"longer than the maximum|exceeds? (the )?max(imum)?[_ ]model[_ ]len|prompt .* too long|truncat",
     "a prompt was truncated or refused for its length: raise model.max_model_len or shorten the input"),
    (r"No available memory for the cache blocks|KV cache .* (too small|insufficient)",
     "no room for the KV cache: lower batch_size or model.max_model_len"),
)


def warning_for(line: str) -> str | None:
    """The one-line warning a log line calls for, else None: how an engine's or server's log, kept in a
    file, still tells the terminal what matters (`sustain: warning: ... (see <log>)`)."""
    import re

    for pattern, warning in MATTERS:
        if re.search(pattern, line, re.IGNORECASE):
            return warning
    return None


def relay(line: str, log_name: str, verbose: bool, seen: set[str]) -> str | None:
    """What the terminal shows of one log line: all of it with --verbose, else its warning once."""
    if verbose:
        return line.rstrip("\n")
    warning = warning_for(line)
    if warning is None or warning in seen:
        return None
    seen.add(warning)
    return f"sustain: warning: {warning} (see {log_name})"


def main(argv: list[str]) -> None:
    path = Path(argv[0])
    verbose = "--verbose" in argv[1:]
    seen: set[str] = set()
    with path.open("ab") as log:
        for raw in sys.stdin.buffer:
            log.write(raw)
            log.flush()
            shown = relay(raw.decode("utf-8", "replace"), path.name, verbose, seen)
            if shown is not None:
                print(shown, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
