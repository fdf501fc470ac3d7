"""gunicorn, configured from ServingSettings, serving the Flask app (contract §7, §8).

gunicorn runs on the port directly (no nginx), with threaded workers so a slow client cannot pin a
worker and the body limit is enforced by the app. The model is validated in the master before any
socket is opened, then loaded once per worker in post_worker_init: a worker that cannot load it exits
with gunicorn's boot-error code (3), which stops the master instead of respawning forever, so a broken
model means a fast non-zero exit with a clear log line, never a healthy /ping (P19).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.errors import HaltServer

from ..env import Paths, ServingSettings
from ..errors import EXIT_ALGORITHM_ERROR, EXIT_CLIENT_ERROR, EXIT_OK
from ..model.artifact import ModelLoadError, load_artifact
from ..model.predictor import Predictor
from .app import create_app, resolve_default_accept, warm_up

log = logging.getLogger(__name__)

#: gunicorn's exit code for "worker failed to boot"; the arbiter halts instead of respawning.
WORKER_BOOT_ERROR = 3
#: Below SageMaker's 30 s between SIGTERM and SIGKILL, so in-flight requests finish first (contract §7).
GRACEFUL_TIMEOUT_S = 25
#: Threads per worker: a large request in one thread must not delay /ping (2 s budget) in another.
THREADS_PER_WORKER = 4
KEEPALIVE_S = 20
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

WsgiFactory = Callable[[], Any]


def gunicorn_options(settings: ServingSettings) -> dict[str, Any]:
    """The gunicorn settings for `settings` (also used by bench/bench_serve.py for its baseline)."""
    options: dict[str, Any] = {
        "bind": f"0.0.0.0:{settings.port}",
        "workers": settings.workers,
        "worker_class": "gthread",
        "threads": THREADS_PER_WORKER,
        "timeout": settings.timeout_s,
        "graceful_timeout": GRACEFUL_TIMEOUT_S,
        "keepalive": KEEPALIVE_S,
        "preload_app": False,
        "errorlog": "-",
        "accesslog": None,
        "loglevel": "info",
        "proc_name": "linear-learner-serve",
        # gunicorn >= 25 opens a control socket under $HOME by default; two servers would fight over it.
        "control_socket_disable": True,
    }
    if os.path.isdir("/dev/shm"):
        # The heartbeat file is touched constantly; tmpfs avoids stalls on slow container filesystems.
        options["worker_tmp_dir"] = "/dev/shm"
    return options


def limit_native_threads() -> None:
    """One BLAS/OpenMP thread per worker: N workers x N BLAS threads would oversubscribe the CPUs.

    The variables cover libraries initialised later; threadpoolctl, when installed, also resizes the
    pools numpy already started (numpy is imported in the master before the workers fork).
    """
    for name in _THREAD_VARS:
        os.environ[name] = "1"
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=1)


def _not_ready(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """Placeholder WSGI app; post_worker_init replaces it before the worker accepts a connection."""
    start_response("503 Service Unavailable", [("Content-Type", "text/plain; charset=utf-8")])
    return [b"model not loaded\n"]


class GunicornServer(BaseApplication):
    """gunicorn without its command line: options come only from the caller, never argv or config files."""

    def __init__(self, build_app: WsgiFactory, options: dict[str, Any]) -> None:
        self._build_app = build_app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)
        self.cfg.set("post_worker_init", self._post_worker_init)

    def load(self) -> Any:
        return _not_ready

    def _post_worker_init(self, worker: Any) -> None:
        limit_native_threads()
        try:
            worker.wsgi = self._build_app()
        except ModelLoadError as exc:
            worker.log.error("%s", exc)
            sys.exit(WORKER_BOOT_ERROR)


def serve(build_app: WsgiFactory, options: dict[str, Any]) -> int:
    """Run gunicorn until it stops; the master's exit status as an int.

    gunicorn ends with sys.exit in the master (halt) and in every forked worker. A worker's SystemExit
    is re-raised so it leaves exactly as gunicorn intends; only the master's becomes a return value.
    """
    master_pid = os.getpid()
    try:
        GunicornServer(build_app, options).run()
    except SystemExit as exc:
        if os.getpid() != master_pid:
            raise
        code = exc.code
        if code is None:
            return EXIT_OK
        return code if isinstance(code, int) else EXIT_ALGORITHM_ERROR
    except HaltServer as exc:
        # gunicorn's halt() reaps workers while stopping and raises HaltServer again when a second worker
        # also failed to boot; it escapes run(), so it is the master's exit status too.
        if os.getpid() != master_pid:
            raise
        log.error("gunicorn stopped: %s", exc.reason)
        return exc.exit_status
    return EXIT_OK


def run_server(paths: Paths, settings: ServingSettings) -> int:
    """Serve the model in paths.model_dir until SIGTERM; the exit code for `linear-learner serve`.

    Returns non-zero at once (no socket opened) when the model cannot be loaded or the settings are
    unusable; 0 after a graceful shutdown.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        artifact = load_artifact(paths.model_dir)
        predictor = Predictor(artifact)
    except ModelLoadError as exc:
        log.error("%s", exc)
        return EXIT_CLIENT_ERROR
    try:
        default_accept = resolve_default_accept(settings.default_accept)
    except ValueError as exc:
        log.error("%s", exc)
        return EXIT_CLIENT_ERROR
    # The whole pipeline once in the master: a bug shows before any port opens, and what codecs compile
    # on first use (numba, ~2 s per process) is inherited by every forked worker instead of redone.
    start = time.monotonic()
    try:
        warm_up(create_app(predictor, settings), artifact.feature_dim)
    except RuntimeError as exc:
        log.error("%s", exc)
        return EXIT_ALGORITHM_ERROR
    log.info("request pipeline checked and warmed up in %.2f s", time.monotonic() - start)
    for name in _THREAD_VARS:
        os.environ[name] = "1"
    options = gunicorn_options(settings)
    log.info(
        "serving %s model (feature_dim=%d%s) from %s on %s: %d workers x %d threads (gthread), "
        "timeout %d s, graceful timeout %d s, max payload %d bytes (%d MiB), default Accept %s, batch %s%s",
        artifact.predictor_type,
        artifact.feature_dim,
        f", num_classes={artifact.num_classes}" if artifact.predictor_type == "multiclass_classifier" else "",
        paths.model_dir,
        options["bind"],
        settings.workers,
        THREADS_PER_WORKER,
        settings.timeout_s,
        GRACEFUL_TIMEOUT_S,
        settings.max_payload_bytes,
        settings.max_payload_mb,
        default_accept,
        settings.is_batch,
        f" (strategy {settings.batch_strategy})" if settings.batch_strategy else "",
    )

    def build_app() -> Any:
        # Runs in each worker after fork: the worker's own copy of the model, loaded, checked and warmed up.
        start = time.monotonic()
        predictor = Predictor(load_artifact(paths.model_dir))
        app = create_app(predictor, settings)
        warm_up(app, predictor.artifact.feature_dim)
        log.info("worker %d: model loaded and warmed up in %.2f s", os.getpid(), time.monotonic() - start)
        return app

    return serve(build_app, options)
