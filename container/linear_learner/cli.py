"""`linear-learner train|serve`: the only place exceptions become exit codes and failure reasons.

ClientError -> `ClientError: ...` in output/failure, exit 1; SIGTERM -> a reason, exit 143; anything
else -> `AlgorithmError: ...`, exit 2, traceback in the log only. The failure file is written last.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import traceback

from . import stop as stop_request
from .env import Paths, ServingSettings
from .errors import (
    EXIT_ALGORITHM_ERROR,
    EXIT_CLIENT_ERROR,
    EXIT_OK,
    EXIT_SIGTERM,
    ClientError,
    TrainingInterrupted,
)

log = logging.getLogger("linear_learner")
USAGE = "usage: linear-learner {train|serve}"
HELP = f"""{USAGE}

  train   read $SAGEMAKER_BASE_DIR/input (default /opt/ml/input), write model/ and output/
  serve   answer /ping, /invocations and /execution-parameters on $SAGEMAKER_BIND_TO_PORT (8080)

SageMaker runs `docker run IMAGE train|serve`; see README.md for the files, formats and settings."""
MAX_REASON = 1024


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line[:MAX_REASON]


def _write_failure(paths: Paths, reason: str) -> None:
    try:
        paths.output_dir.mkdir(parents=True, exist_ok=True)
        paths.failure_file.write_text(_one_line(reason) + "\n")
    except OSError as exc:  # the reason is on stderr anyway
        print(f"could not write {paths.failure_file}: {exc}", file=sys.stderr)


def _clean_previous_run(paths: Paths) -> None:
    """A second run in the same folder must not see the first one's failure, success or model."""
    from .model.artifact import ARTIFACT_NAME

    for stale in (paths.failure_file, paths.success_file, paths.model_dir / ARTIFACT_NAME):
        stale.unlink(missing_ok=True)


def train(paths: Paths | None = None) -> int:
    from .training.logs import setup_logging

    paths = paths or Paths.from_env()
    setup_logging()
    stop = stop_request.REQUESTED  # also polled by blocking Pipe-mode reads (stop.py)
    stop.clear()

    def on_sigterm(signum, frame):  # noqa: ARG001
        log.warning("SIGTERM received: stopping at the next mini-batch boundary")
        stop.set()

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        _clean_previous_run(paths)
        from .training.job import run_training

        run_training(paths, should_stop=stop.is_set)
    except ClientError as exc:
        reason = f"ClientError: {exc}"
        log.error(reason)
        print(_one_line(reason), file=sys.stderr)
        _write_failure(paths, reason)
        return EXIT_CLIENT_ERROR
    except TrainingInterrupted as exc:
        reason = f"ClientError: training was stopped by SIGTERM ({exc}); no model was written"
        log.error(reason)
        _write_failure(paths, reason)
        return EXIT_SIGTERM
    except MemoryError:
        reason = "ClientError: out of memory; use a larger instance, fewer features or a smaller num_models"
        log.error(reason)
        _write_failure(paths, reason)
        return EXIT_CLIENT_ERROR
    except Exception as exc:  # the single boundary where a bug becomes AlgorithmError
        log.error("Unexpected error:\n%s", traceback.format_exc())
        reason = f"AlgorithmError: {type(exc).__name__}: {exc}"
        print(_one_line(reason), file=sys.stderr)
        _write_failure(paths, reason)
        return EXIT_ALGORITHM_ERROR
    try:
        paths.output_dir.mkdir(parents=True, exist_ok=True)
        paths.success_file.touch()
    except OSError:
        pass
    return EXIT_OK


def serve() -> int:
    from .serving.server import run_server

    try:
        settings = ServingSettings.from_env()
    except ValueError as exc:
        print(f"invalid serving settings: {exc}", file=sys.stderr)
        return EXIT_CLIENT_ERROR
    return run_server(Paths.from_env(), settings)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args in (["-h"], ["--help"], ["help"]):
        print(HELP)
        return 0
    if len(args) != 1 or args[0] not in ("train", "serve"):
        print(USAGE, file=sys.stderr)
        return 2
    return train() if args[0] == "train" else serve()


def entry_point() -> None:
    """Console-script target: exit with main()'s code.

    After multi-host training, torch.distributed's gloo threads may still be alive at interpreter
    teardown, and their C++ destructors abort ("terminate called without an active exception"),
    turning exit 1 into a SIGABRT. Once torch is loaded, flush and leave without that teardown.
    """
    code = main()
    if "torch" in sys.modules:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry_point()
