"""Entry point: `python -m processing [run|serve|probe|stage] ...`."""
import sys

from processing.job import main

sys.exit(main())
