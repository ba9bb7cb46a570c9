"""Every Slack message and view the bot builds, as pure functions from rows: one module per
surface, one set of helpers (common.py). Used by listeners and jobs alike; no I/O."""
