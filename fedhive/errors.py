"""The one exception type for a user's mistake: the CLI prints its message and exits 2."""


class UserError(Exception):
    """A bad config, override, path or argument; its message is one line naming the culprit."""


class RunFailed(Exception):
    """A run that cannot go on for a reason outside the config (e.g. a lost process); the
    CLI prints its one-line message and exits 1."""
