"""`python -m mediaforged` runs the daemon."""

from mediaforged.daemon import main

raise SystemExit(main())
