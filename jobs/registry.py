"""Which executor runs which stage. A stage missing here is recorded as not implemented."""

from __future__ import annotations

from jobs.engine import Executor
from jobs.stages import run_prelaunch, run_warning

EXECUTORS: dict[str, Executor] = {
    "prelaunch": run_prelaunch,
    "warning": run_warning,
}
