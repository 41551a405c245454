"""videobot's GPU job: turns one job.json into video.mp4 with CogVideoX (see docs/processing.md)."""
import time

# When the interpreter got here: metadata.json's `startup` timing counts imports from this point.
PROCESS_STARTED = time.monotonic()
