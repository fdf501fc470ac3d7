"""Pipe-mode emulator: streams files into FIFOs `<data_dir>/<channel>_<pass>`, one per pass (contract §5).

Like SageMaker it creates the next FIFO when the previous pass is over, waits for the algorithm to open
it, writes the channel's objects back to back and closes it. A reader that stops early (EPIPE) just
ends that pass. Options mirror the channel settings: `gzip` sends every object gzip-compressed (as if
SageMaker did not decompress), `wrap_recordio` wraps every object in one RecordIO record
(RecordWrapperType=RecordIO). Used by the tests; also runnable by hand:

    python local_test/pipe_feeder.py --data-dir /opt/ml/input/data --channel train part-*.pbr
"""

from __future__ import annotations

import argparse
import errno
import gzip as gzip_module
import os
import signal
import stat
import struct
import sys
import threading
import time
from pathlib import Path

_MAGIC = 0xCED7230A


def _wrap(payload: bytes) -> bytes:
    return struct.pack("<II", _MAGIC, len(payload)) + payload + b"\0" * ((4 - len(payload) % 4) % 4)


def _make_fifo(path: Path) -> None:
    """mkfifo, reusing a FIFO left behind by a feeder that was killed (anything else is an error)."""
    try:
        os.mkfifo(path)
    except FileExistsError:
        if not stat.S_ISFIFO(os.stat(path).st_mode):
            raise FileExistsError(f"{path} exists and is not a FIFO") from None


class PipeFeeder:
    """Feeds `files` into the FIFOs of one channel in a background thread until `passes` or `stop()`."""

    def __init__(
        self,
        data_dir: Path,
        channel: str,
        files: list[Path],
        *,
        passes: int | None = None,
        gzip: bool = False,
        wrap_recordio: bool = False,
        write_size: int = 1 << 20,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.channel = channel
        self.files = [Path(f) for f in files]
        self.passes = passes
        self.gzip = gzip
        self.wrap_recordio = wrap_recordio
        self.write_size = write_size
        self.completed: list[int] = []  # passes fully written
        self.early: list[int] = []  # passes the reader closed before the end
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"pipe-feeder-{channel}", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> PipeFeeder:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def __enter__(self) -> PipeFeeder:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _objects(self):
        for path in self.files:
            data = path.read_bytes()
            if self.gzip:
                data = gzip_module.compress(data, compresslevel=1)
            yield _wrap(data) if self.wrap_recordio else data

    def _open_writer(self, fifo: Path) -> int | None:
        """Open the FIFO for writing once a reader has opened it; None when stopped first."""
        while not self._stop.is_set():
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                    raise
                time.sleep(0.01)
                continue
            os.set_blocking(fd, True)
            return fd
        return None

    def _run(self) -> None:
        try:
            index = 0
            while not self._stop.is_set() and (self.passes is None or index < self.passes):
                fifo = self.data_dir / f"{self.channel}_{index}"
                _make_fifo(fifo)
                try:
                    fd = self._open_writer(fifo)
                    if fd is None:
                        return
                    self._write_pass(fd, index)
                finally:
                    fifo.unlink(missing_ok=True)
                index += 1
        except BaseException as exc:  # surfaced to the test through .error
            self.error = exc

    def _write_pass(self, fd: int, index: int) -> None:
        try:
            for data in self._objects():
                view = memoryview(data)
                for start in range(0, len(view), self.write_size):
                    os.write(fd, view[start : start + self.write_size])
            self.completed.append(index)
        except BrokenPipeError:
            self.early.append(index)  # the reader finished this pass early
        finally:
            os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--channel", required=True)
    parser.add_argument("--passes", type=int, default=None)
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--wrap-recordio", action="store_true")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    feeder = PipeFeeder(
        args.data_dir,
        args.channel,
        args.files,
        passes=args.passes,
        gzip=args.gzip,
        wrap_recordio=args.wrap_recordio,
    )
    # SIGTERM (kill, a test harness) stops like Ctrl-C, so the current FIFO is removed, not left
    # behind; the handler only sets the event (an exception would interrupt join() mid-wait)
    signal.signal(signal.SIGTERM, lambda signum, frame: feeder._stop.set())
    feeder.start()
    try:
        while feeder._thread.is_alive():
            feeder._thread.join(0.5)
    except KeyboardInterrupt:
        feeder.stop()
    if feeder.error is not None:
        print(f"pipe_feeder: {type(feeder.error).__name__}: {feeder.error}", file=sys.stderr)
        sys.exit(1)
    print(
        f"pipe_feeder: channel {args.channel!r}: {len(feeder.completed)} pass(es) written"
        + (f", {len(feeder.early)} closed early by the reader" if feeder.early else ""),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
