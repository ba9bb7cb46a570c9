"""A round's states: the one place they are spelled in Python, with the sets the code decides by.

The database holds the same states in the rounds.state CHECK constraint, and the allowed moves in
the round_transitions table (its trigger refuses any other); tests/test_states.py holds this
module against both, and checks that every move the code makes is in the table.
"""

from __future__ import annotations

from enum import StrEnum


class RoundState(StrEnum):
    PLANNED = "planned"      # scheduled; no pre-flight has passed yet
    READY = "ready"          # pre-flight passed; waits for approval (or none, with automatic approval)
    BLOCKED = "blocked"      # pre-flight failed, or the draft changed after it
    APPROVED = "approved"    # an approver approved the latest passing pre-flight
    SENDING = "sending"      # the send is claimed; Mailjet may or may not have it
    SENT = "sent"
    REPORTED = "reported"    # the wrap-up report is posted
    CLEANED = "cleaned"      # the list cleanup was applied
    CANCELLED = "cancelled"
    MISSED = "missed"        # the launch window closed before it was sent
    FAILED = "failed"        # Mailjet refused, or could not say whether it went out


S = RoundState

# Before the send claim: pre-flight runs, and a person can cancel the round.
PRE_SEND = frozenset({S.PLANNED, S.READY, S.BLOCKED, S.APPROVED})
# Not known to be sent: may still go out (or, `sending`, may have). Holds up archiving.
UNSENT = PRE_SEND | {S.SENDING}
# Went out (live or dry run): has numbers to report and a list to clean.
SENT = frozenset({S.SENT, S.REPORTED, S.CLEANED})
# Ended without a send.
NOT_SENT = frozenset({S.CANCELLED, S.MISSED, S.FAILED})
# Nothing more happens to the round by itself.
FINAL = SENT | NOT_SENT
# A person may give it a new instant.
RESCHEDULABLE = PRE_SEND | {S.MISSED}
