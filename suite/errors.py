"""The one user-facing error type, the warning for flawed stored results, and how a
stopped sweep reaches the CLI."""


class UsageError(Exception):
    """Bad input from the user: printed by the CLI as one line, exit code 2."""


class DataWarning(UserWarning):
    """A flaw in stored results that dlbench works around (a torn or malformed line): the
    CLI prints it as one `dlbench: warning:` line."""


class Stop(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C's KeyboardInterrupt so that the same cleanup
    (workers killed, finished points kept) runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class Interrupted(Exception):
    """A sweep stopped by a signal (Ctrl-C, SIGTERM, SIGHUP); its finished points are saved
    in `run_dir`. The CLI exits with 128 + the signal's number."""

    def __init__(self, signum: int, run_dir: str) -> None:
        super().__init__(signum, run_dir)
        self.signum = signum
        self.run_dir = run_dir
