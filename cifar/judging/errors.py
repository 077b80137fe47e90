"""The one error judging raises for bad input (a missing, corrupt or foreign run; a bad policy): one line, which
the command line prints as ``error: …`` with exit code 2."""


class GateError(Exception):
    """Bad input to the gate, the baselines, histories or the gate's check; the message is one line."""
