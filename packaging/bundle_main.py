"""The desktop bundle's entry point (packaging/desktop-sae.spec): the ``desktop-sae`` command, app and CLI."""

import sys

from desktop_sae.cli import main

if __name__ == "__main__":
    sys.exit(main())
