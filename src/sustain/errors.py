"""One exception type for problems a user can fix; the CLI prints its message as one sentence."""


class SustainError(Exception):
    """A user-facing error: the message names the problem and the fix, no traceback needed.

    `kind` classifies it for sweep tables and the `error.kind` tag (input, model_not_found, ...).
    """

    def __init__(self, message: str, kind: str = "input") -> None:
        super().__init__(message)
        self.kind = kind
