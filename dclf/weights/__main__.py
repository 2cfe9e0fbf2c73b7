"""`python -m dclf.weights ...`: see dclf/weights/cli.py."""

import sys

from dclf.weights.cli import main

sys.exit(main())
