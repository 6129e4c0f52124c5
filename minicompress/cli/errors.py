"""The one exception a subcommand raises for a mistake the user made."""


class UsageError(Exception):
    """A user error: printed as ``minicompress: error: <message>``, exit code 2, no traceback."""
