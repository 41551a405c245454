"""Test-only fork server: the heavy imports of the processing job once per vitest run, a fork per job.

A real tiny-random job spends ~10 s of its ~12 s importing torch, diffusers and transformers. This process
(started by test/global-setup.ts) imports them once, then serves each `python ...` that test/support/forkclient.py
sends it: it forks, and the child takes the client's stdin/stdout/stderr, cwd, environment and argv and runs what
`python <argv>` would run (`-m module`, `-c code` or a script). The product never uses it (docs/testing.md).

Usage: python forkserver.py SOCKET_PATH OWNER_PID. The first `-m` client that finds no server starts it (so a vitest
run without a real job pays nothing); it writes SOCKET_PATH.pid, then SOCKET_PATH.ready once imported, and ends when
OWNER_PID (vitest) does, or on SIGTERM.

Protocol (AF_UNIX stream): the client sends a 4-byte big-endian length and a JSON request
{argv, cwd, env, umask, ignored}, with its fds 0, 1, 2 attached to the first bytes (SCM_RIGHTS). The server
answers lines: `fallback` (this interpreter cannot stand in for a fresh one: the client execs the real python),
or `pid N` and later `exit CODE` or `signal N`. If the client's connection closes before the child has ended
(the client was SIGKILLed), the child is SIGKILLed.

Fork safety: the server starts no threads and computes nothing with torch, so no OpenMP pool or other thread
exists to be lost in the fork; each child starts its own, with the environment it was given.
"""
from __future__ import annotations

import ctypes
import io
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time

MAX_REQUEST = 4 * 1024 * 1024

# Environment that these libraries read once, at import (cache paths, offline flags, thread counts, CUDA
# devices, libgomp's OMP_* read when torch loads it): a request whose values differ from the server's runs
# on a real interpreter instead (`fallback`), so the fork server never changes what a job sees. HOME is not
# among them: the job gets its models folder as --models-dir and never uses the default caches.
IMPORT_TIME_ENV = ("HF_", "HUGGINGFACE_", "TRANSFORMERS_", "DIFFUSERS_", "TOKENIZERS_", "TORCH", "PYTORCH_",
                   "CUDA_", "NVIDIA_", "OMP_", "MKL_", "OPENBLAS_", "KMP_", "GOMP_", "XDG_CACHE_HOME",
                   "PYTHON", "LD_")


# Read at startup, and applied to each child instead (fresh_stdio, sys.dont_write_bytecode).
PER_CHILD_ENV = ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE")


def import_time_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith(IMPORT_TIME_ENV) and k not in PER_CHILD_ENV}


def preload() -> None:
    """What every tiny-random job imports, and the lazy attributes it touches (transformers and diffusers build
    their lazy import structures on first access, ~2.6 s of the ~10). Not processing.*: a test may run the job
    from another checkout, and those imports are cheap."""
    import numpy  # noqa: F401
    import PIL.Image  # noqa: F401
    import imageio_ffmpeg  # noqa: F401
    import torch  # noqa: F401
    import tokenizers  # noqa: F401
    import transformers
    import diffusers
    import diffusers.models.embeddings  # noqa: F401
    import diffusers.models.transformers.transformer_wan  # noqa: F401

    for name in ("T5Config", "T5EncoderModel", "UMT5Config", "UMT5EncoderModel", "PreTrainedTokenizerFast"):
        getattr(transformers, name)
    for name in ("AutoencoderKLCogVideoX", "CogVideoXDPMScheduler", "CogVideoXDDIMScheduler",
                 "CogVideoXTransformer3DModel", "CogVideoXPipeline", "CogVideoXImageToVideoPipeline",
                 "AutoencoderKLWan", "UniPCMultistepScheduler", "WanTransformer3DModel", "WanPipeline",
                 "WanImageToVideoPipeline"):
        getattr(diffusers, name)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def threads() -> int:
    return len(os.listdir("/proc/self/task"))


class Server:
    def __init__(self, path: str, owner: int):
        self.owner = owner
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        # Listening before the imports: a client that comes early waits in the backlog, not for a fallback.
        self.listener.listen(128)
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, socket.socket] = {}  # child pid -> its client's connection
        self.conns: dict[socket.socket, int] = {}
        self.wakeup_r, self.wakeup_w = os.pipe()
        os.set_blocking(self.wakeup_r, False)
        os.set_blocking(self.wakeup_w, False)
        self.import_env = import_time_env(dict(os.environ))  # before the imports: what they saw
        self.import_added: dict[str, str] = {}
        self.stopping = False

    def serve(self) -> dict | None:
        """The server's loop; returns in a forked child only, with the request it is to run."""
        signal.set_wakeup_fd(self.wakeup_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self.stop)
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.wakeup_r, selectors.EVENT_READ, "signal")
        while not self.stopping:
            if not alive(self.owner):
                break
            for key, _ in self.selector.select(timeout=2):
                if key.data == "accept":
                    request = self.accept()
                    if request is not None:
                        return request
                elif key.data == "signal":
                    try:
                        os.read(self.wakeup_r, 4096)
                    except BlockingIOError:
                        pass
                    self.reap()
                else:
                    self.client_event(key.fileobj)
        for pid in list(self.children):  # stopping: no job outlives the test run
            self.kill(pid)
        return None

    def stop(self, *_) -> None:
        self.stopping = True

    def accept(self) -> dict | None:
        conn, _ = self.listener.accept()
        fds: list[int] = []
        try:
            conn.settimeout(10)
            data, fds, _, _ = socket.recv_fds(conn, 65536, 3)
            while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
                if len(data) > MAX_REQUEST:
                    raise ValueError("request too large")
                more = conn.recv(65536)
                if not more:
                    raise EOFError("client left mid-request")
                data += more
            request = json.loads(data[4:4 + struct.unpack(">I", data[:4])[0]])
            if len(fds) != 3:
                raise ValueError(f"expected 3 fds, got {len(fds)}")
        except (OSError, ValueError, EOFError) as e:
            print(f"forkserver: bad request: {e}", file=sys.stderr, flush=True)
            for fd in fds:
                os.close(fd)
            conn.close()
            return None
        if import_time_env(request["env"]) != self.import_env:
            differ = sorted(set(import_time_env(request["env"]).items()) ^ set(self.import_env.items()))
            print(f"forkserver: fallback for {request['argv'][:3]}: {sorted({k for k, _ in differ})} differ",
                  file=sys.stderr, flush=True)
            conn.sendall(b"fallback\n")
            for fd in fds:
                os.close(fd)
            conn.close()
            return None
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            return self.become_child(conn, fds, request)
        for fd in fds:
            os.close(fd)
        print(f"forkserver: {pid} runs {request['argv'][:3]}", file=sys.stderr, flush=True)
        self.children[pid] = conn
        self.conns[conn] = pid
        conn.setblocking(False)
        try:
            conn.sendall(f"pid {pid}\n".encode())
        except OSError:
            pass  # the client is gone: its EOF kills the child below
        self.selector.register(conn, selectors.EVENT_READ, "client")
        return None

    def client_event(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            return  # the client sends nothing after its request; it signals the child by its pid
        # The client is gone (SIGKILLed, as a runner kills a job's process group): so is its job.
        self.selector.unregister(conn)
        pid = self.conns.pop(conn)
        conn.close()
        if pid in self.children:
            self.children[pid] = None  # type: ignore[assignment]
            self.kill(pid)

    @staticmethod
    def kill(pid: int) -> None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            message = f"signal {os.WTERMSIG(status)}\n" if os.WIFSIGNALED(status) else f"exit {os.waitstatus_to_exitcode(status)}\n"
            self.selector.unregister(conn)
            self.conns.pop(conn, None)
            try:
                conn.setblocking(True)
                conn.sendall(message.encode())
            except OSError:
                pass
            conn.close()

    def become_child(self, conn: socket.socket, fds: list[int], request: dict) -> dict:
        """In the fork: nothing of the server's is left open, and the process is what `python` would start as."""
        signal.set_wakeup_fd(-1)
        self.selector.close()
        self.listener.close()
        for other in self.conns:
            other.close()
        os.close(self.wakeup_r)
        os.close(self.wakeup_w)
        conn.close()
        # Dies with the server (a server SIGKILLed at the end of a run leaves no job behind).
        PR_SET_PDEATHSIG = 1
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
        for target, fd in enumerate(fds):
            os.dup2(fd, target, inheritable=True)
            if fd > 2:
                os.close(fd)
        # What the imports added to the environment (torch sets CUDA_MODULE_LOADING) a fresh python has too.
        request["env"] = {**{k: v for k, v in self.import_added.items() if k not in request["env"]}, **request["env"]}
        return request


def python_signals(ignored: list[int]) -> None:
    """The dispositions a fresh python starts with: SIGINT raises KeyboardInterrupt, SIGPIPE and SIGXFSZ are
    ignored, every other signal is default, except those the client's own parent left ignored."""
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_IGN if sig in ignored else signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    if signal.SIGINT not in ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def fresh_stdio() -> None:
    """stdin/stdout/stderr on the client's fds, buffered as python would for them (line-buffered on a terminal)."""
    encoding, errors = sys.stdout.encoding, sys.stdout.errors
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))

    def text(fd: int, errors: str, line_buffering: bool, write_through: bool) -> io.TextIOWrapper:
        raw = io.FileIO(fd, "rb" if fd == 0 else "wb", closefd=False)
        buffered = io.BufferedReader(raw) if fd == 0 else io.BufferedWriter(raw)
        return io.TextIOWrapper(buffered, encoding, errors, line_buffering=line_buffering, write_through=write_through)

    sys.stdin = sys.__stdin__ = text(0, errors, False, False)
    sys.stdout = sys.__stdout__ = text(1, errors, os.isatty(1), unbuffered)
    sys.stderr = sys.__stderr__ = text(2, "backslashreplace", True, unbuffered)


def hide_server_frames(kind, value, tb, _file=__file__, _sys=sys):
    """A traceback from the job, without this file's frames (the rest is what `python -m` prints)."""
    while tb is not None and tb.tb_frame.f_code.co_filename == _file:
        tb = tb.tb_next
    _sys.__excepthook__(kind, value.with_traceback(tb), tb)  # 3.11 prints the exception's own __traceback__


def run(request: dict) -> None:
    """In the child: what `python <argv>` runs. Its SystemExit or exception ends this interpreter as it ends a
    fresh one (atexit, thread joins, flushes, exit code; KeyboardInterrupt exits by SIGINT)."""
    import runpy
    import types

    os.chdir(request["cwd"])
    os.umask(request["umask"])
    os.environ.clear()
    os.environ.update(request["env"])
    python_signals(request["ignored"])
    fresh_stdio()
    sys.dont_write_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
    argv = request["argv"]
    sys.excepthook = hide_server_frames
    if argv[0] == "-m":
        sys.argv = [argv[1], *argv[2:]]  # runpy puts the module's path at sys.argv[0]
        sys.path[0] = os.getcwd()
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    elif argv[0] == "-c":
        sys.argv = ["-c", *argv[2:]]
        sys.path[0] = ""
        main = sys.modules["__main__"] = types.ModuleType("__main__")
        main.__dict__.update(__builtins__=__builtins__, __spec__=None, __loader__=None, __package__=None)
        exec(compile(argv[1], "<string>", "exec"), main.__dict__)
    else:
        sys.argv = list(argv)
        sys.path[0] = os.path.dirname(os.path.realpath(argv[0]))
        runpy.run_path(argv[0], run_name="__main__")


def main() -> None:
    path, owner = sys.argv[1], int(sys.argv[2])
    server = Server(path, owner)
    with open(f"{path}.pid.tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(f"{path}.pid.tmp", f"{path}.pid")
    started = time.monotonic()
    before = dict(os.environ)
    preload()
    server.import_added = {k: v for k, v in os.environ.items() if before.get(k) != v}
    # numpy's OpenBLAS starts a thread pool at import and stops it before each fork (pthread_atfork), to start it
    # again when next needed. One fork that does nothing stops it here; a thread still running after it would be
    # missing in every fork (and may hold a lock there): refuse to serve.
    probe = os.fork()
    if probe == 0:
        os._exit(0)
    os.waitpid(probe, 0)
    if threads() != 1:
        print(f"forkserver: {threads()} threads after the imports; not serving", file=sys.stderr, flush=True)
        os.unlink(path)
        sys.exit(1)
    print(f"forkserver: ready in {time.monotonic() - started:.1f} s on {path}", file=sys.stderr, flush=True)
    open(f"{path}.ready", "w").close()  # clients that would not wait for the imports use it from now on
    request = server.serve()
    if request is None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    code, interrupted = 0, False
    try:
        run(request)
    except SystemExit as e:
        code = exit_code(e.code)
    except BaseException as e:  # what python prints of an uncaught exception, and its exit code
        sys.excepthook(type(e), e, e.__traceback__)
        code, interrupted = 1, isinstance(e, KeyboardInterrupt)
    finish(code, interrupted)


def exit_code(code) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def finish(code: int, interrupted: bool) -> None:
    """A fresh python's exit, without tearing down the server's imported modules object by object (seconds, in a
    fork that has to copy every page it touches): non-daemon threads joined, atexit handlers, flushed stdio; an
    uncaught KeyboardInterrupt ends the process by SIGINT."""
    import atexit
    import threading

    threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        if stream is None or stream.closed:
            continue  # closed by the program (json.tool closes stdout): python skips it too
        try:
            stream.flush()
        except OSError:
            code = code or 120  # python's exit status when stdout cannot be flushed
    if interrupted:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code & 0xFF)


if __name__ == "__main__":
    main()
