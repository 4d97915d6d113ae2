"""``python -m landseg``: the command line (:mod:`landseg.cli`)."""

from landseg.cli import main

raise SystemExit(main())
