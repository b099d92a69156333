from desktop_sae.cli import main

raise SystemExit(main())
