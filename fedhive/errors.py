"""The one exception type for a user's mistake: the CLI prints its message and exits 2."""


class UserError(Exception):
    """A bad config, override, path or argument; its message is one line naming the culprit."""


class RunError(Exception):
    """A run that cannot go on (e.g. too many rounds without a usable client update); the
    CLI prints its one-line message and exits 1. A checkpoint was written before it."""


class RunStopped(Exception):
    """A run stopped cleanly on SIGINT/SIGTERM after a checkpoint; the CLI exits 128 + signum."""

    def __init__(self, signum: int, round: int, run_dir: object = None):
        super().__init__(f"stopped by signal {signum} after round {round}")
        self.signum, self.round, self.run_dir = signum, round, run_dir


class FedhiveWarning(UserWarning):
    """Something the user should know that does not stop the run (a skipped round, a
    corrupt checkpoint passed over); the CLI prints it as one `fedhive: warning:` line."""
