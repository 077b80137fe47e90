"""What is trained and fed: CIFAR-10 (offline or synthetic), the tf.data pipelines, the models, the thread
settings and the CPU budget they are checked against, and the article's script (``python -m cifar train``).

Nothing here imports TensorFlow at import time: only the functions that build or apply something do, and only
in a child process (or in ``python -m cifar train``, which is one process, like the article).
"""
