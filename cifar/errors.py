"""The errors every command shares: `BadInput` (exit 2), and those of reading runs and judging them (run files,
the gates, baselines, histories).

`BadInput`: anything wrong with what a command was given, one line; `GateError`, `cifar.tuning.search.TuneError`
and `cifar.tuning.space.SpaceError` are kinds of it. `GateError`: bad input (a missing, corrupt or foreign run; a
bad policy), one line, which the command line prints as ``error: …`` with exit code 2. `RemeasureError`: the
re-measurement that confirms a regression ran and gave no result (it crashed or timed out); the gate then says the
regression was seen and not confirmed, exit code 4."""


class BadInput(Exception):
    """What a command was given cannot be used (a file, an option, a report); the message is one line, and the
    command line exits `cifar.exitcodes.BAD_INPUT` before measuring anything."""


class GateError(BadInput):
    """Bad input to the gate, the baselines, histories or the gate's check; the message is one line."""


class RemeasureError(Exception):
    """A re-measurement crashed or timed out: no fresh result to confirm or refute a regression; one line."""
