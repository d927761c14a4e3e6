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


class TrainingInterrupted(SpinrlError):
    """Training stopped on SIGINT or SIGTERM after writing a checkpoint."""

    def __init__(self, signum: int, run_dir: str | None, epoch: int) -> None:
        import signal

        self.signum, self.run_dir, self.epoch = signum, run_dir, epoch
        name = signal.Signals(signum).name
        where = (
            f"checkpoint of epoch {epoch} saved; resume with: spinrl train --resume {run_dir}"
            if run_dir
            else "nothing was saved (no output directory)"
        )
        super().__init__(f"interrupted by {name} after epoch {epoch}; {where}")

    def __reduce__(self):  # pickled whole (a process pool, Ray), not as its message alone
        return type(self), (self.signum, self.run_dir, self.epoch)

    @property
    def exit_status(self) -> int:
        return 128 + self.signum
