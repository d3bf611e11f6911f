"""`python -m suite`: the dlbench command line."""
import sys

from suite.cli import main

sys.exit(main())
