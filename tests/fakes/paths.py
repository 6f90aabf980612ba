"""Where the tests find the repository's files."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
TEST_DATA = ROOT / "tests" / "data"
GATEWAY_DATA = ROOT / "gateway" / "data"
EXAMPLES = ROOT / "examples"
