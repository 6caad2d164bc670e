from __future__ import annotations

import sys
from pathlib import Path

# The tests' helper module (synthetic data, the fake tokenizer) is imported by name, also from
# the subprocesses some tests start.
sys.path.insert(0, str(Path(__file__).parent))
