"""Error hierarchy. Every user-facing mistake raises a :class:`LandsegError` subclass.

The CLI catches these and prints the message without a traceback (exit status 2).
"""


class LandsegError(Exception):
    """Base class for errors caused by input or usage, not by a bug."""


class InputError(LandsegError):
    """An input file or folder is missing, unreadable or not what was expected."""


class ClassTableError(LandsegError):
    """A class table is invalid, or a label holds colours/values outside the table."""


class ConfigError(LandsegError):
    """A configuration key or value is invalid."""


class CheckpointError(LandsegError):
    """A model file is not a valid landseg checkpoint or does not fit the data."""


class OutputError(LandsegError):
    """An output location cannot be written."""
