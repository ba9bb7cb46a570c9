"""Which executor runs which stage. A stage missing here is recorded as not implemented."""

from __future__ import annotations

from jobs.engine import Executor
from jobs.launch import run_launch
from jobs.sent import run_campaign_id
from jobs.stages import run_preflight_stage, run_prelaunch, run_warning
from jobs.wrapup import run_cleanup_stage, run_metrics, run_wrapup

EXECUTORS: dict[str, Executor] = {
    "prelaunch": run_prelaunch,
    "preflight": run_preflight_stage,
    "warning": run_warning,
    "launch": run_launch,
    "campaign_id": run_campaign_id,
    "metrics": run_metrics,
    "wrapup": run_wrapup,
    "cleanup": run_cleanup_stage,
}
