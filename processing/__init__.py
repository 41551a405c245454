"""videobot's GPU job: turns one job.json into video.mp4 with CogVideoX (see docs/processing.md)."""
import time

# When the interpreter got here: metadata.json's `startup` timing counts imports from this point.
PROCESS_STARTED = time.monotonic()


def exit_now(code: int | None) -> None:
    """Ends the process once its command has returned: every output is written by then (each file atomically,
    the process group left, the workers joined). What the interpreter would still do is tear down torch,
    Dynamo's caches and the CUDA context one object at a time, which took 3.4-4.1 s after each job on an H200
    (1.7 s for the tiny CPU model) before SageMaker, or a parallel job's launcher, saw the process end."""
    import logging
    import os
    import sys
    import threading

    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.current_thread()) or \
            ("multiprocessing" in sys.modules and sys.modules["multiprocessing"].active_children()):
        sys.exit(code)  # work still running beside: the interpreter's own shutdown waits for it
    logging.shutdown()  # what atexit would have run: the log handlers' flush
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing more can be said there anyway
            pass
    os._exit(code or 0)
