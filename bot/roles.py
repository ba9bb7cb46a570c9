"""Who may do what. Privileges nest: admin ⊇ approver ⊇ operator.

Checked on the server for every command and every click; Slack's UI hides nothing for us.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Role(IntEnum):
    anyone = 0
    operator = 1
    approver = 2
    admin = 3


# What each subcommand or action needs.
REQUIRED_ROLE: dict[str, Role] = {
    "help": Role.anyone,
    "list": Role.anyone,
    "status": Role.anyone,
    "report": Role.anyone,
    "log": Role.anyone,
    "new": Role.operator,
    "preflight": Role.operator,
    "hold": Role.operator,
    "cleanup": Role.operator,
    "rehearse": Role.operator,
    "approve": Role.approver,
    "resume": Role.approver,
    "cancel": Role.approver,
    "reschedule": Role.approver,
    "freeze": Role.admin,
    "unfreeze": Role.admin,
    "suppression": Role.anyone,
    "unsuppress": Role.approver,
    "resolve": Role.admin,
    "archive": Role.admin,
    # interactive actions
    "approve_launch": Role.approver,
    "hold_round": Role.operator,
    "resume_round": Role.approver,
    "cancel_round": Role.approver,
    "apply_cleanup": Role.operator,
    "override_bounce": Role.approver,
}


@dataclass(frozen=True)
class Roles:
    admins: frozenset[str]
    approvers: frozenset[str]
    operators: frozenset[str]

    def role_of(self, user_id: str) -> Role:
        if user_id in self.admins:
            return Role.admin
        if user_id in self.approvers:
            return Role.approver
        if user_id in self.operators:
            return Role.operator
        return Role.anyone

    def may(self, user_id: str, what: str) -> bool:
        return self.role_of(user_id) >= REQUIRED_ROLE[what]

    def refusal(self, user_id: str, what: str) -> str:
        needed = REQUIRED_ROLE[what]
        have = self.role_of(user_id)
        yours = f"you are an {have.name}" if have else "you are in no role list"
        return (
            f":no_entry: `{what}` needs the {needed.name} role and {yours}; nothing was changed. "
            "Roles come from SLACK_ADMINS, SLACK_APPROVERS and SLACK_OPERATORS."
        )
