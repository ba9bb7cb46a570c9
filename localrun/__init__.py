"""Running the whole product on this machine: `campaign-bot run` as a subprocess, configured
only through its environment, against the Slack and Mailjet stand-ins, with a seeded Mailjet
account. One harness for the demo (`campaign-bot demo`, so it ships in the wheel) and the
tests (tests/support/ builds its fixtures on it).

- `localrun.process`: free ports, the bot subprocess (start, readiness, stop, its log);
- `localrun.environment`: the bot's environment against the stand-ins, and the people in it;
- `localrun.seeding`: a Mailjet account on the stand-in (sender, master list, template draft).
"""
