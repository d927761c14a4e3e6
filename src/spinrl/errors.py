"""Typed exceptions. The CLI turns any SpinrlError into one line on stderr and exit status 2."""


class SpinrlError(Exception):
    """Base class of every error spinrl raises on purpose (bad input, not a bug)."""


class ConfigError(SpinrlError, ValueError):
    """A configuration value is missing, malformed or inconsistent."""


class EnvError(SpinrlError, ValueError):
    """An environment id is unknown, or its spaces cannot be served by the chosen algorithm."""


class CheckpointError(SpinrlError):
    """A checkpoint or run directory is missing, truncated, corrupt or of another kind."""


class DivergenceError(SpinrlError, FloatingPointError):
    """A loss, gradient or parameter became NaN or infinite during training."""
