"""The sandbox against hostile snippets: each is refused or survived, and this test process stays healthy."""

from __future__ import annotations

import os
import socket
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile_corpus import processes_of

from docflywheel.errors import InputError
from docflywheel.eval.sandbox import SandboxLimits, SandboxResult, protections, run_python

FAST = SandboxLimits(cpu_seconds=1, wall_seconds=5, memory_bytes=256 << 20, max_file_bytes=1 << 20)
LIBC = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"


def needs(layer: str) -> pytest.MarkDecorator:
    """Skip a test of a kernel layer this machine does not give (they are reported by `protections()`)."""
    return pytest.mark.skipif(layer not in protections(), reason=f"no {layer} on this machine")


def run(code: str, limits: SandboxLimits = FAST, **kwargs: object) -> SandboxResult:
    return run_python(textwrap.dedent(code), limits=limits, **kwargs)  # type: ignore[arg-type]


def run_libc(code: str) -> SandboxResult:
    """A snippet that starts with libc loaded through ctypes, the usual way around the audit hook."""
    return run_python(LIBC + textwrap.dedent(code), limits=FAST)


@pytest.fixture
def canary(tmp_path: Path) -> Iterator[Path]:
    """A file of ours that no snippet may touch; checked, with our own state, after every test."""
    path = tmp_path / "canary.txt"
    path.write_text("still here")
    cwd, environ = os.getcwd(), _environment()
    yield path
    assert path.read_text() == "still here"
    assert os.getcwd() == cwd and _environment() == environ


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}


@pytest.fixture
def outside_path() -> Iterator[Path]:
    """A path in the world-writable /tmp, so only the read-only filesystem stands between it and the snippet."""
    path = Path("/tmp") / f"docflywheel-escape-{uuid.uuid4().hex}"
    yield path
    assert not path.exists()


def test_a_plain_snippet_runs_and_reports_its_protections() -> None:
    result = run("print('hello'); import sys; print(sys.argv)")
    assert result.status == "ok" and result.exit_code == 0
    assert result.stdout == "hello\n['snippet.py']\n"
    assert {"rlimits", "audit-hook", "minimal-env", "temp-workdir"} <= set(result.protections)


def test_files_are_written_beside_the_snippet_and_collected_back() -> None:
    result = run("import helper\nopen('out.txt', 'w').write(helper.X * 2)", files={"helper.py": "X = 'ab'"},
                 collect=["out.txt", "absent.txt"])
    assert result.ok and result.files == {"out.txt": "abab"}


@pytest.mark.parametrize("name", ["../x.py", "/etc/x.py"])
def test_file_names_that_leave_the_working_directory_are_refused(name: str) -> None:
    with pytest.raises(InputError, match="plain relative path"):
        run_python("pass", files={name: "x"})


def test_errors_and_exit_codes_are_reported() -> None:
    assert run("import sys; sys.exit(3)").exit_code == 3
    failed = run("def f(:\n  pass")
    assert failed.status == "error" and "SyntaxError" in failed.stderr
    raised = run("raise ValueError('boom')")
    assert raised.status == "error" and "ValueError: boom" in raised.stderr and "sandbox_child" not in raised.stderr


def test_infinite_loop_hits_the_cpu_limit(canary: Path) -> None:
    result = run("while True: pass")
    assert result.status == "timeout" and result.duration_s < FAST.wall_seconds + 2


def test_sleeping_forever_hits_the_wall_clock_limit(canary: Path) -> None:
    result = run("import time; time.sleep(1000)", SandboxLimits(wall_seconds=1))
    assert result.status == "timeout" and "wall-clock" in result.reason and result.duration_s < 8


def test_ignoring_sigxcpu_still_ends_at_the_hard_limit(canary: Path) -> None:
    result = run("import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True: pass")
    assert result.status in ("timeout", "killed") and result.duration_s < FAST.wall_seconds + 3


def test_memory_hog_hits_the_memory_limit(canary: Path) -> None:
    result = run("hog = []\nwhile True: hog.append(bytearray(32 << 20))")
    assert result.status == "memory" and "MemoryError" in result.stderr


def test_fork_bomb_is_denied(canary: Path) -> None:
    result = run("import os\nwhile True: os.fork()")
    assert result.status == "denied" and "starting processes is not allowed" in result.stderr


def test_subprocess_spawn_is_denied(canary: Path) -> None:
    result = run("import subprocess; subprocess.run(['sh', '-c', 'echo spawned'])")
    assert result.status == "denied" and "spawned" not in result.stdout


@needs("throwaway-uid")
def test_ctypes_fork_bomb_is_bounded_and_leaves_no_process(canary: Path) -> None:
    result = run_libc("""
        print(os.getuid(), flush=True)
        made = 0
        for _ in range(200):
            pid = libc.fork()
            if pid == 0:
                libc.setsid()  # leave the session: only the namespace or the uid sweep can still find it
                libc.pause()
            made += pid > 0
        print(made)
        """)
    uid, made = map(int, result.stdout.split())
    assert result.ok and 0 < made < FAST.max_processes
    assert processes_of(uid) == []


@needs("throwaway-uid")
def test_a_daemon_that_outlives_the_snippet_is_killed(canary: Path) -> None:
    result = run_libc("""
        print(os.getuid(), flush=True)
        if libc.fork() == 0:
            libc.setsid()
            libc.sleep(1000)
        """)
    assert result.ok
    assert processes_of(int(result.stdout)) == []


def test_socket_connect_is_denied(canary: Path) -> None:
    result = run("import socket; socket.create_connection(('93.184.216.34', 80), timeout=2)")
    assert result.status == "denied" and "network access is not allowed" in result.stderr


def test_dns_lookup_is_denied(canary: Path) -> None:
    assert run("import socket; socket.getaddrinfo('example.com', 80)").status == "denied"


@needs("net-namespace")
def test_ctypes_socket_cannot_reach_our_loopback(canary: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.3)
    port = server.getsockname()[1]
    result = run_libc(f"""
        import struct
        fd = libc.socket(2, 1, 0)
        address = struct.pack("<H", 2) + struct.pack("!H", {port}) + bytes([127, 0, 0, 1]) + bytes(8)
        print(libc.connect(fd, address, 16))
        """)
    assert result.ok and result.stdout.strip() == "-1"
    with pytest.raises(socket.timeout):
        server.accept()
    server.close()


def test_writing_outside_the_working_directory_is_denied(canary: Path, outside_path: Path) -> None:
    result = run(f"open({str(outside_path)!r}, 'w').write('escaped')")
    assert result.status == "denied"


def test_writing_after_chdir_to_root_is_denied(canary: Path) -> None:
    result = run("import os\nos.chdir('/')\nopen('docflywheel-escape.txt', 'w')")
    assert result.status == "denied" and not Path("/docflywheel-escape.txt").exists()


@needs("read-only-fs")
def test_ctypes_write_outside_hits_the_read_only_filesystem(canary: Path, outside_path: Path) -> None:
    result = run_libc(f"""
        fd = libc.open({str(outside_path).encode()!r}, os.O_WRONLY | os.O_CREAT, 0o644)
        print(fd, ctypes.get_errno() == 30)  # EROFS
        """)
    assert result.ok and result.stdout.split() == ["-1", "True"]


@needs("read-only-fs")
def test_shell_through_ctypes_system_cannot_write_outside(canary: Path, outside_path: Path) -> None:
    result = run_libc(f"print(libc.system(b'echo pwned > {outside_path}'))")
    assert result.ok and result.stdout.strip() != "0"


def test_deleting_our_files_is_denied(canary: Path) -> None:
    result = run(f"import os; os.remove({str(canary)!r})")
    assert result.status == "denied"


@needs("throwaway-uid")
def test_ctypes_unlink_of_our_files_fails(canary: Path) -> None:
    result = run_libc(f"print(libc.unlink({str(canary).encode()!r}))")
    assert result.ok and result.stdout.strip() == "-1"


def test_environment_secrets_do_not_reach_the_snippet(canary: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCFLYWHEEL_FAKE_SECRET", "hunter2-fake-token")
    result = run("""
        import os
        print(sorted(os.environ))
        for path in (f"/proc/{os.getppid()}/environ", "/proc/1/environ"):
            try:
                print(open(path, "rb").read())
            except OSError as exc:
                print("blocked", type(exc).__name__)
        """)
    assert result.ok and "hunter2" not in result.stdout + result.stderr
    assert "DOCFLYWHEEL_FAKE_SECRET" not in result.stdout and "blocked" in result.stdout


@needs("throwaway-uid")
def test_ctypes_read_of_another_process_environment_fails(canary: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCFLYWHEEL_FAKE_SECRET", "hunter2-fake-token")
    result = run_libc(f"""
        for pid in (os.getppid(), {os.getpid()}):
            fd = libc.open(f"/proc/{{pid}}/environ".encode(), os.O_RDONLY)
            buffer = ctypes.create_string_buffer(65536)
            print(fd, libc.read(fd, buffer, 65536) if fd >= 0 else -1, buffer.raw.rstrip(bytes(1)))
        """)
    assert result.ok and "hunter2" not in result.stdout


def test_home_directory_of_root_is_hidden_or_unreadable(canary: Path) -> None:
    result = run("""
        import os
        try:
            print(sorted(os.listdir(os.path.expanduser("~root"))))
        except OSError as exc:
            print("blocked", type(exc).__name__)
        """)
    assert result.ok
    if os.geteuid() == 0 and "read-only-fs" in result.protections:
        assert result.stdout.strip() in ("[]", "['.pyenv']", "blocked PermissionError")


def test_huge_output_is_cut_and_stopped(canary: Path) -> None:
    result = run("import sys\nwhile True: sys.stdout.write('x' * 65536)")
    assert result.status == "killed" and "size limit" in result.reason
    assert result.truncated and len(result.stdout) < FAST.max_output_bytes + 100


def test_a_huge_file_in_the_working_directory_is_stopped(canary: Path) -> None:
    result = run("with open('big.bin', 'wb') as fh:\n    while True: fh.write(bytes(1 << 20))")
    assert result.status == "killed"


def test_killing_the_parent_is_denied(canary: Path) -> None:
    result = run("import os, signal; os.kill(os.getppid(), signal.SIGKILL)")
    assert result.status == "denied"
    parent_pid = os.getpid()
    assert run(f"import os, signal; os.kill({parent_pid}, signal.SIGKILL)").status == "denied"


@needs("throwaway-uid")
def test_ctypes_kill_of_this_test_process_fails(canary: Path) -> None:
    result = run_libc(f"print(libc.kill(os.getppid(), 9), libc.kill({os.getpid()}, 9), libc.kill(-1, 9))")
    assert result.ok
    assert result.stdout.split()[:2] == ["-1", "-1"]


@needs("throwaway-uid")
def test_ctypes_setuid_root_fails(canary: Path) -> None:
    result = run_libc("print(libc.setuid(0), os.getuid() != 0)")
    assert result.ok and result.stdout.split() == ["-1", "True"]


def test_ctypes_segfault_is_killed(canary: Path) -> None:
    result = run("import ctypes; ctypes.string_at(0)")
    assert result.status == "killed" and "segmentation" in result.reason


def test_recursion_bomb_ends_at_a_limit(canary: Path) -> None:
    result = run("import sys\nsys.setrecursionlimit(10**6)\ndef f(): return f()\nf()")
    assert result.status in ("error", "memory", "timeout", "killed")  # which limit comes first varies


def test_running_out_of_file_descriptors_is_an_error(canary: Path) -> None:
    result = run("files = [open('f.txt', 'a') for _ in range(100000)]")
    assert result.status == "error" and "Too many open files" in result.stderr


def test_thread_bomb_is_bounded(canary: Path) -> None:
    result = run("import threading, time\nfor _ in range(2000):\n    threading.Thread(target=time.sleep, "
                 "args=(30,), daemon=True).start()")
    assert result.status in ("error", "memory") and result.duration_s < FAST.wall_seconds + 2
