"""The statistics, and nothing else (numpy and scipy; no TensorFlow, no pytest, no other package of this project):
`estimate`, the one measurement model every figure rests on (a process's value, the comparison of two settings,
its interval and half-width, the processes a target needs, the rule for contended processes); `significance`, the
gate's rank tests and what they can detect."""
