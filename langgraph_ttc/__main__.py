"""``python -m langgraph_ttc`` runs the ``langgraph-ttc`` command."""

import sys

from langgraph_ttc.cli import main

sys.exit(main())
