"""Entry point: `python -m processing [run|serve|probe|stage] ...`."""
import sys

from processing.cli import main

sys.exit(main())
