"""``python -m edge``: the trackside edge's command line."""
import sys

from edge.cli import main

sys.exit(main())
