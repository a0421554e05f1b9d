"""``python -m vzskill`` = the ``vzskill`` console script."""

from vzskill.cli import main

raise SystemExit(main())
