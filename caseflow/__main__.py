"""`python -m caseflow ...`: the same as the `caseflow` command."""

from caseflow.cli import main

raise SystemExit(main())
