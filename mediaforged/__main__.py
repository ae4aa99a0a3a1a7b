"""`python -m mediaforged` runs the daemon."""

from mediaforged.daemon.main import main

raise SystemExit(main())
