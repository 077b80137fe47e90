"""``python -m cifar``: see `cifar.cli`."""

import sys

from cifar.cli import main

sys.exit(main())
