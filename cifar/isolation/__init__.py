"""How one configuration runs in its own process: TensorFlow accepts thread settings only before its runtime
starts, so every measurement is a fresh child — forked from a zygote that imported TensorFlow but never ran an
op, or spawned — and results come back as plain JSON. `Runner` is the entry point; `schedule` is the one
interleaving order everything measures in.
"""
