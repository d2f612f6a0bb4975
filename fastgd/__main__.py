"""``python -m fastgd``: the command line of fastgd.cli."""
import sys

from fastgd.cli import main

sys.exit(main())
