"""`python -m channels.handoff ...`: see channels/handoff/cli.py."""

from channels.handoff.cli import main

raise SystemExit(main())
