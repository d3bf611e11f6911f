"""The one user-facing error type."""


class UsageError(Exception):
    """Bad input from the user: printed by the CLI as one line, exit code 2."""
