from landseg.cli import main

raise SystemExit(main())
