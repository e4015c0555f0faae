import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from gen import ensure_generated  # noqa: E402

sys.path.insert(0, str(ensure_generated()))
