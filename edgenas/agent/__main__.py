"""``python -m edgenas.agent``: block torch and onnx before anything else imports them, then run the agent."""

import sys

for _heavy in ("torch", "onnx"):  # the board side never needs them; a board without them must behave the same
    sys.modules[_heavy] = None  # type: ignore[assignment]

from .main import main  # noqa: E402

sys.exit(main())
