"""The process's stop request (SIGTERM), for code that waits outside the training loop.

The training loop polls its `should_stop` at every mini-batch; a read that blocks on a FIFO whose
writer never comes (or never writes) would never reach one, and Python retries a blocking read that
a signal interrupts. So cli.py sets this event from its SIGTERM handler and such waits poll it.
"""

from __future__ import annotations

import threading

REQUESTED = threading.Event()
