"""Entry point: `python -m processing [run|probe|stage] ...`."""
import sys

from processing.job import main

sys.exit(main())
