"""`python -m pytest_confluence_approval POLICY [options]`: confluence-approval-gate."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
