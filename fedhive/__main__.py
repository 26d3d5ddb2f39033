"""`python -m fedhive` runs the command-line interface."""

import sys

from fedhive.cli import main

sys.exit(main())
