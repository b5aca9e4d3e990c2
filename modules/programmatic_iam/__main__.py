"""``python -m programmatic_iam COMMAND``."""

import sys

from .cli import main

sys.exit(main())
