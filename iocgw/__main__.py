"""``python -m iocgw`` is the same as ``iocgw``."""

import sys

from iocgw.cli import main

sys.exit(main())
