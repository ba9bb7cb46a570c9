"""Test-only crash points on the send path.

With CAMPAIGN_BOT_TEST_FAILPOINT=<name> in the environment, the process SIGKILLs itself
when it reaches that point, so tests can prove exactly-once sending across a crash at
each step. Unset in production: then this is a dictionary lookup and nothing else.
"""

from __future__ import annotations

import os
import signal

NAMES = ("before_claim", "after_claim", "after_send_recorded", "after_slack_post", "after_slack_upload",
         "weekly_summary_claimed")  # inside the weekly summary's transaction, before it commits


def failpoint(name: str) -> None:
    assert name in NAMES, name
    if os.environ.get("CAMPAIGN_BOT_TEST_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
