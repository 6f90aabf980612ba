"""`python -m gateway` is the `distillgate` command."""

import sys

from gateway.commands.cli import main

sys.exit(main())
