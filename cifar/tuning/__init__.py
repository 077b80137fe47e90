"""How settings are searched: ``python -m cifar tune`` finds the fastest settings for this machine and confirms them.

space     the dimensions (threads, tf.data, pipeline, affinity, oneDNN, precision, XLA) and one point of them
search    an Optuna study, every trial measured in fresh isolated processes; storage, fleets, the machine lock
confirm   the best settings, TensorFlow's default and the article's (4, 2) re-measured interleaved, with CIs
report    the terminal summary, the ready-to-paste snippet, JSON, Markdown and PNG plots
tune      the command: search, then confirm, then report
"""
