"""One exception type for problems a user can fix; the CLI prints its message as one sentence."""


class SustainError(Exception):
    """A user-facing error: the message names the problem and the fix, no traceback needed."""
