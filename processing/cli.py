"""The command line: `python -m processing [run|serve|probe|stage] ...` parsed and dispatched (no torch for --help)."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from processing.contract import SAGEMAKER_OUTPUT
from processing.images import FITS
from processing.progress import Observer

COMMANDS = ("run", "serve", "serve-http", "probe", "stage")
# SageMaker starts an endpoint's container as `<image> serve`; the endpoint's model sets this to `http`
# so that `serve` means the HTTP worker there (processing/serve_http.py).
SERVE_TRANSPORT_ENV = "VIDEOBOT_SERVE_TRANSPORT"
DEVICES = ("auto", "cpu", "cuda")
MEMORY_PLAN_CHOICES = ("auto", "none", "model", "sequential")
SPEEDS = ("lossless", "fast", "stock")  # processing.optimize.SPEEDS, kept here so --help needs no torch
LOG_LEVELS = ("debug", "info", "warning", "error")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m processing",
                                     description="videobot's GPU job: turns one job.json into video.mp4.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the job in --input-dir (the default command)")
    run.add_argument("--input-dir", type=Path, default=Path("/opt/ml/processing/input"))
    run.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/output"))
    run.add_argument("--gpus", default="auto", type=gpus_arg,
                     help="auto: every GPU that helps (classifier-free-guidance parallel on 2); N: that many "
                          "worker processes, also on CPU over gloo (processing/parallel.py)")
    serve = commands.add_parser("serve", help="keep the pipeline loaded and run the jobs named on stdin, "
                                              "one at a time (docs/processing.md, Resident worker)")
    serve_http = commands.add_parser("serve-http", help="the resident worker behind a SageMaker asynchronous "
                                                        "endpoint: GET /ping, POST /invocations on port 8080")
    for sub in (run, serve, serve_http):  # how to run a job: the same for one job and for a resident worker
        sub.add_argument("--models-dir", type=Path, default=Path("/opt/ml/processing/models"))
        sub.add_argument("--allow-download", action="store_true",
                         help="fetch missing weights from the Hugging Face Hub")
        sub.add_argument("--device", default="auto", choices=DEVICES)
        sub.add_argument("--memory-plan", default="auto", choices=MEMORY_PLAN_CHOICES)
        sub.add_argument("--image-fit", default=None, choices=FITS,
                         help="override job.json's image_fit (default: job.json's, else crop)")
        sub.add_argument("--speed", default="lossless", choices=SPEEDS,
                         help="lossless: compiled, output within bf16 rounding of stock diffusers; "
                              "fast: also fp8 and step caching (lossy); stock: plain diffusers")

    from processing.serve_http import add_arguments as add_serve_http_arguments

    add_serve_http_arguments(serve_http)
    commands.add_parser("probe", help="print this machine's GPU as one JSON line")

    stage = commands.add_parser("stage", help="download a preset's weights into DEST/PRESET")
    stage.add_argument("--model", required=True)
    stage.add_argument("--dest", type=Path, required=True)
    stage.add_argument("--compile-cache-only", action="store_true",
                       help="weights already in DEST/PRESET: only add the compile cache (needs a GPU)")

    for sub in commands.choices.values():
        sub.add_argument("--log-level", default="info", choices=LOG_LEVELS)

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in (*COMMANDS, "-h", "--help"):
        argv = ["run", *argv]  # `run` is the default command
    if argv[0] == "serve" and os.environ.get(SERVE_TRANSPORT_ENV) == "http":
        argv[0] = "serve-http"
    return parser.parse_args(argv)


def gpus_arg(value: str) -> str:
    if value == "auto" or (value.isdigit() and int(value) >= 1):
        return value
    raise argparse.ArgumentTypeError(f"must be auto or a whole number of at least 1; got {value!r}")


def settings_from(args: argparse.Namespace, input_dir: Path, output_dir: Path):
    from processing.job import Settings

    return Settings(input_dir=input_dir, output_dir=output_dir, models_dir=args.models_dir,
                    allow_download=args.allow_download, device=args.device,
                    memory_plan=args.memory_plan, image_fit=args.image_fit, speed=args.speed)


def command_probe() -> int:
    from processing.pipeline import probe_device

    print(json.dumps(probe_device()), flush=True)
    return 0


def main(argv: list[str] | None = None, *, observer: Observer | None = None,
         sagemaker_output: Path = SAGEMAKER_OUTPUT) -> int:
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(), force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "probe":
        return command_probe()
    if args.command == "stage":
        from processing.stage import command_stage

        return command_stage(args.model, args.dest, args.compile_cache_only)
    if args.command == "serve-http":
        from processing.serve_http import command_serve_http

        return command_serve_http(args)
    if args.command == "serve":
        from processing.serve import command_serve

        return command_serve(args)
    from processing import parallel

    launched = parallel.launch(args, sagemaker_output)  # None: this process runs the job
    if launched is not None:
        return launched
    from processing.job import run_job

    return run_job(settings_from(args, args.input_dir, args.output_dir), observer, sagemaker_output)
