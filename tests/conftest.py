"""Cross-service tests import the probe services from tests/support."""

import sys
from pathlib import Path

SUPPORT = Path(__file__).parent / "support"
sys.path.insert(0, str(SUPPORT))
