"""`campaign-bot demo`: the whole product on this machine, no Slack or Mailjet account needed.

- `runner.py`: starts an embedded PostgreSQL, the stand-ins and `campaign-bot run` (through
  the shared local harness, localrun/), plays the script, stops everything in order;
- `script.py`: the conversation (`default_script()`) and the summary at the end;
- `steps.py`: the step language the script is written in, and the context steps act on;
- `transcript.py`: the channel printed as readable text while it happens.
"""

from bot.demo.runner import run_demo

__all__ = ["run_demo"]
