"""`python -m melody` runs the command line."""

import sys

from melody.cli import main

sys.exit(main())
