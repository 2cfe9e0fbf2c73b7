"""`python -m dclf.data ...`: see dclf.data.cli."""

import sys

from dclf.data.cli import main

if __name__ == "__main__":
  sys.exit(main())
