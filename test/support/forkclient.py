"""Test-only stand-in for `python`: has test/support/forkserver.py run `python <argv>` and ends as that run ends.

Usage: forkclient.py SOCKET_PATH OWNER_PID ARGV..., run by the stand-in python that test/global-setup.ts writes
(`#!.venv/bin/python -SI`; forkShim there), which puts SOCKET_PATH and OWNER_PID before the caller's argv.

It sends the server its argv, cwd, environment, umask, ignored signals and its fds 0, 1, 2, gets the forked job's
pid, forwards SIGTERM, SIGINT and SIGHUP to it, and exits with the job's exit code, or dies of the job's signal
(as a parent of a real python would see). A SIGKILL of this process closes its connection: the server kills the
job. The first `-m` client of a vitest run (OWNER_PID) starts the server, and waits for its imports as a real python
would for its own; `-m` clients that come meanwhile wait in its listen backlog, other commands (cheap ones, such as
a probe of a video) run on the real python until the server is ready. Whatever it cannot hand over (no server, an interpreter option it does not handle, an environment the
server's imports did not see), it runs on the real python instead: `exec python ARGV...`.
"""
import json
import os
import signal
import socket
import struct
import sys
import time

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "forkserver.py")
# The server's environment: what LocalRunner passes a job anyway, without the variables that the libraries read
# at import (a request must match the server's in those, or it runs on the real python).
SERVER_ENV = ("PATH", "HOME", "LANG", "TMPDIR", "TZ")
STARTUP_S = 10  # for the server to bind its socket (it imports after that)


def real_python(argv):
    os.execv(sys.executable, [sys.executable, *argv])


def start_server(path, owner):
    """Starts the server if no client has (a lock file decides), outside this process's tree (a test that looks at
    a job process's children or group must not find it), and waits until it listens."""
    try:
        os.close(os.open(f"{path}.lock", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass  # another client started it (or it has ended: then its socket is gone and this client falls back)
    else:
        env = {k: v for k, v in os.environ.items() if k in SERVER_ENV or k.startswith("LC_")}
        log = os.open(os.path.join(os.path.dirname(path), "server.log"), os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
        child = os.fork()
        if child == 0:
            try:
                os.setsid()
                if os.fork() == 0:
                    devnull = os.open(os.devnull, os.O_RDONLY)
                    os.dup2(devnull, 0)
                    os.dup2(log, 1)
                    os.dup2(log, 2)
                    os.chdir(os.path.dirname(SERVER))
                    os.execve(sys.executable, [sys.executable, SERVER, path, str(owner)], env)
            finally:
                os._exit(0)
        os.close(log)
        os.waitpid(child, 0)
    deadline = time.monotonic() + STARTUP_S
    while not os.path.exists(path) and time.monotonic() < deadline and not ended(f"{path}.pid"):
        time.sleep(0.02)


def ended(pid_file):
    """Whether the server named in pid_file has ended (gone, or a zombie waiting for PID 1)."""
    try:
        with open(pid_file) as f:
            pid = int(f.read())
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return os.path.exists(pid_file)  # no /proc entry: gone; no pid file yet: starting
    except ValueError:
        return False


def connect(path, owner, argv):
    """`-m MODULE` (the processing job: ~10 s of imports on its own) starts the server if need be and waits for its
    imports; anything else (a probe of a video: a fraction of a second) uses the server only once it is ready."""
    if argv[0] != "-m" and not os.path.exists(f"{path}.ready"):
        raise FileNotFoundError(f"{path}.ready")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except FileNotFoundError:
        start_server(path, owner)
        sock.connect(path)
    return sock


def servable(argv):
    """`-m MODULE ...`, `-c CODE ...` or `SCRIPT ...`: anything else (options, stdin, a REPL) the real python runs."""
    if not argv:
        return False
    if argv[0] in ("-m", "-c"):
        return len(argv) >= 2
    return not argv[0].startswith("-")


def fall_back(argv, pending):
    """The real python runs it, unless a signal came meanwhile: then nothing ran, and this process dies of it."""
    if pending:
        die_like(f"signal {int(pending[0])}")
    real_python(argv)


def die_like(status):
    kind, _, value = status.partition(" ")
    if kind == "exit":
        sys.exit(int(value))
    sig = int(value)
    signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)
    sys.exit(128 + sig)  # not reached for a deadly signal


def main():
    path, owner, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    if not servable(argv):
        real_python(argv)
    pid = 0
    pending = []

    def forward(sig, _frame):
        if not pid:
            pending.append(sig)  # sent on once the job's pid is known
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    ignored = [int(s) for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP)
               and signal.getsignal(s) == signal.SIG_IGN]
    umask = os.umask(0)
    os.umask(umask)
    request = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": umask,
                          "ignored": ignored}).encode()
    for sig in FORWARDED:
        if signal.getsignal(sig) != signal.SIG_IGN:
            signal.signal(sig, forward)
    sock = None
    try:
        sock = connect(path, owner, argv)
        message = struct.pack(">I", len(request)) + request
        sent = socket.send_fds(sock, [message], [0, 1, 2])
        sock.sendall(message[sent:])  # a stream socket may take part of a large request at a time
    except OSError:
        if sock is not None:
            sock.close()
        fall_back(argv, pending)
    reader = sock.makefile("rb")
    try:
        first = reader.readline().decode().strip()
    except OSError:
        first = ""
    if not first.startswith("pid "):
        # "fallback", or the server died before forking: nothing ran, so the real python runs it.
        sock.close()
        fall_back(argv, pending)
    pid = int(first.split()[1])
    for sig in pending:
        forward(sig, None)
    while True:
        try:
            status = reader.readline().decode().strip()
            break
        except InterruptedError:
            continue
    if not status:
        # The server ended without reporting the job (it was stopped): the job was killed with it.
        status = f"signal {int(signal.SIGKILL)}"
    die_like(status)


if __name__ == "__main__":
    main()
