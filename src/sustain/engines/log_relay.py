"""`python -m sustain.engines.log_relay LOG [--verbose]`: the other end of an engine's stdout and stderr.

Every line is appended to the run's log file; the terminal gets all of it with --verbose, else only the
one-line warnings that matter (`sustain.cli.relay`). A process of its own, so it keeps reading until the
engine and every process it started have closed the pipe, a crash included.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sustain.cli import relay


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
