"""videobot's GPU job: turns one job.json into video.mp4 with CogVideoX (see docs/processing.md)."""
