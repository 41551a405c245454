"""Entry point: `python -m processing [run|serve|probe|stage] ...`."""
from processing import exit_now
from processing.cli import main

exit_now(main())
