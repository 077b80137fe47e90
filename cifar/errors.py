"""The errors of reading runs and judging them (run files, the gates, baselines, histories).

`GateError`: bad input (a missing, corrupt or foreign run; a bad policy), one line, which the command line prints
as ``error: …`` with exit code 2. `RemeasureError`: the re-measurement that confirms a regression ran and gave no
result (it crashed or timed out); the gate then says the regression was seen and not confirmed, exit code 4."""


class GateError(Exception):
    """Bad input to the gate, the baselines, histories or the gate's check; the message is one line."""


class RemeasureError(Exception):
    """A re-measurement crashed or timed out: no fresh result to confirm or refute a regression; one line."""
