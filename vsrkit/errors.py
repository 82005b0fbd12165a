"""User-facing errors: each carries one line that names the file/key and the fix.

Launchers catch :class:`VsrkitError` and print only its message (no traceback unless ``--debug``).
"""


class VsrkitError(Exception):
    """Base class of errors caused by the user's input (options, files, checkpoints), not by a bug."""


class ConfigError(VsrkitError):
    """Bad options: malformed YAML, unknown key or name, wrong type."""


class DataError(VsrkitError):
    """Bad data on disk: missing folder, truncated file, frame counts that disagree, manifest mismatch."""


class CheckpointError(VsrkitError):
    """Unreadable checkpoint, or one whose keys do not fit the network."""
