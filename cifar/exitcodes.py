"""The exit codes of ``python -m cifar``: one meaning each, whichever command returns them.

====  =====================================================================================================
code  meaning
====  =====================================================================================================
0     the question's good answer: the gate passed, ``tune --check`` holds, ``bisect`` found the commit
1     the answer the command exists to catch: a confirmed regression (gate), a recommendation that no longer
      holds (``tune --check``), BAD not slower than GOOD (``bisect``)
2     bad input, said in one line before anything is measured: a missing or foreign file, a bad option
3     inconclusive: something was not decided (not gated, too little time, a step that could not decide)
4     could not finish: a crash, a timeout, a regression seen whose re-measurement failed; one line (the
      traceback with ``--debug``), and whatever was finished is written
130   interrupted (Ctrl-C)
====  =====================================================================================================
"""

OK = 0
CAUGHT = 1
BAD_INPUT = 2
INCONCLUSIVE = 3
ERROR = 4
INTERRUPTED = 130
