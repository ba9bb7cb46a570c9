"""Every Slack message and view the bot builds, as pure functions from rows: one module per
surface (rounds, pre-flight, cleanup, report, replies, home, modal, rehearsal, weekly
summary), one set of helpers (common). Used by listeners and jobs alike; no I/O.
"""
