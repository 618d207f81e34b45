"""``durable dev`` forks its first worker (Linux): the child is set up as a spawned worker
would be, and the server adopts it as it adopts a spawned one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from durable.devserver.spawn import ForkedProcess, can_fork
from tests.support.harness import DevProcess, wait_for

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks on Linux")

APP = textwrap.dedent(
    """
    import atexit, os, sys
    from pathlib import Path
    from durable import Durable

    print("imported in", os.getcwd(), "stdin", os.readlink("/proc/self/fd/0"))
    print("to stderr", file=sys.stderr)
    print("main", sys.modules["__main__"].__name__, "path0", sys.path[0])
    print("undecodable", os.fsdecode(b"caf\\xe9.csv"))  # surrogateescape, as spawned
    atexit.register(lambda: Path("worker-exit.txt").write_text(str(os.getpid())))
    app = Durable(id="forked")

    @app.function(id="hello", triggers=[{"event": "t/hello"}])
    async def hello(ctx):
        return await ctx.step.run("pid", os.getpid)
    """
)

# Forks in a fresh interpreter (pytest's own may run threads): binds a listening socket, forks
# the worker as `durable dev` does, lets a server adopt it and prints what the child holds.
SCRIPT = textwrap.dedent(
    """
    import asyncio, atexit, json, os, socket, sys
    from pathlib import Path
    from durable.devserver.spawn import can_fork, fork_worker
    from durable.devserver.dev.server import DevServer
    from durable.devserver.options import DevOptions

    root = Path(sys.argv[1])
    listening = socket.create_server(("127.0.0.1", 0))
    inode = os.fstat(listening.fileno()).st_ino
    stray = os.open(root / "stray.txt", os.O_CREAT | os.O_RDONLY)  # inheritable, as a shell's
    os.set_inheritable(stray, True)
    atexit.register(lambda: open(root / "parent-exit.txt", "a").write(f"{os.getpid()}\\n"))
    assert can_fork()
    launched = fork_worker([root / "app.py"], root, close_in_child=[listening])
    pid = launched.process.pid
    options = DevOptions(paths=[root / "app.py"], db=str(root / "dev.db"), root=root)
    output = []

    async def boot():
        server = DevServer(options, launched=launched)
        server._worker_output = output.append
        await server.start()
        fds = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        adopted = server.executor.current.process.pid
        await server.executor.close()
        server.store.close()
        return fds, adopted, sorted(server.registry.functions)

    fds, adopted, functions = asyncio.run(boot())
    print(json.dumps({
        "pid": pid, "adopted": adopted, "functions": functions, "output": output,
        "holds_listener": f"socket:[{inode}]" in fds,
        "holds_stray": str(root / "stray.txt") in fds,
        "code": launched.process.poll(),
    }))
    """
)


def test_a_forked_worker_is_set_up_as_a_spawned_one_and_adopted(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:surrogateescape"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.splitlines()[-1])
    assert seen["adopted"] == seen["pid"]  # the forked worker, not a second one
    assert seen["functions"] == ["hello"], seen["output"]
    # its output comes back on the pipe (stdout and stderr), from the project's folder,
    # with stdin from /dev/null, in the encoding this interpreter chose
    assert f"imported in {tmp_path} stdin /dev/null" in seen["output"]
    assert "to stderr" in seen["output"]
    assert "undecodable caf\ufffd.csv" in seen["output"]  # (the server shows bytes so)
    # multiprocessing would re-import the worker; user code imports from the project
    assert f"main durable.devserver.worker path0 {tmp_path}" in seen["output"]
    assert seen["holds_listener"] is False  # the HTTP port is the server's alone
    assert seen["holds_stray"] is False  # nor any other descriptor of the server
    assert seen["code"] == 0  # stopped, exited normally, reaped by the executor
    # its own atexit handlers ran at its exit; the server's only in the server
    assert (tmp_path / "worker-exit.txt").read_text() == str(seen["pid"])
    assert (tmp_path / "parent-exit.txt").read_text().split() != [str(seen["pid"])]
    assert len((tmp_path / "parent-exit.txt").read_text().split()) == 1


def test_durable_dev_forks_its_worker_and_runs_steps_in_it(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    dev = DevProcess(tmp_path, tmp_path / "app.py", reload=False).start()
    try:
        assert dev.process is not None
        server = dev.process.pid
        children = Path(f"/proc/{server}/task/{server}/children").read_text().split()
        # forked, not executed anew: the same program and command line as the server's (the
        # other child, if started yet, is the spare: `python -m durable.devserver.worker`)
        command = Path(f"/proc/{server}/cmdline").read_bytes()
        [worker] = [int(p) for p in children if Path(f"/proc/{p}/cmdline").read_bytes() == command]
        dev.send({"name": "t/hello", "data": {}})
        [run] = wait_for(lambda: dev.finished("hello", 1), 30, "the run")
        assert run["status"] == "completed"
        assert run["output"] == worker
    finally:
        dev.stop()


def test_forked_process_exit_codes_are_popens() -> None:
    assert can_fork() in (True, False)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os._exit(3)
    os.close(write_end)
    exited = ForkedProcess(pid, os.fdopen(read_end, "rb"))
    assert exited.wait() == 3 and exited.poll() == 3
    exited.kill()  # reaped: its pid is not signalled again
    assert exited.stdout is not None
    exited.stdout.close()

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        signal.pause()
        os._exit(0)
    os.close(write_end)
    killed = ForkedProcess(pid, os.fdopen(read_end, "rb"))
    assert killed.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        killed.wait(timeout=0.01)
    killed.kill()
    assert killed.wait(timeout=10) == -signal.SIGKILL
    assert killed.stdout is not None
    killed.stdout.close()


def test_forking_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    monkeypatch.setattr(threading, "active_count", lambda: 1)  # (pytest may run threads)
    monkeypatch.delenv("DURABLE_FORK_WORKER", raising=False)
    assert can_fork() is True
    monkeypatch.setenv("DURABLE_FORK_WORKER", "0")
    assert can_fork() is False
