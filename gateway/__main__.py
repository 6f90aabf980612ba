"""`python -m gateway` is the `distillgate` command."""

import sys

from gateway.cli import main

sys.exit(main())
