"""`python -m byoc.cli`: the `byoc` command, where its console script is not on PATH."""

import sys

from byoc.cli import main

sys.exit(main())
