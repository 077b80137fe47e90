"""What ``pytest benchmarks/`` runs and how it reaches pytest-benchmark: the cases and thread grid
(`settings`, with the one translation between settings and pytest options), running them interleaved in
children (`campaign`), and recording the children's timings in the ``benchmark`` fixture (`record`).
"""
