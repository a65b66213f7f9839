"""The hostile corpus: snippets an LLM-written example could hold, each with the outcome the sandbox must give.

Data for tests/reliability/test_hostile.py and bench/reliability.py. Every snippet runs in the real sandbox
(eval/sandbox.py) and is then checked twice: its status is one the case expects, and the host is unharmed
(`contain` below: our canary file byte-identical, nothing created at the outside path, no connection reached
our loopback listener, no secret of ours in its output, no process of its throwaway uid left, this process
alive). Placeholders filled in before a run: @OUTSIDE@ (a path in world-writable /tmp that must not exist
afterwards), @CANARY@ (a file of ours), @PORT@ (a port we listen on), @PARENT@ (our pid).
"""

from __future__ import annotations

import os
import re
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from docflywheel.eval.sandbox import SandboxLimits, SandboxResult, run_python

Category = Literal["resource", "network", "filesystem", "process", "environment", "import", "output"]
LIMITS = SandboxLimits(cpu_seconds=1, wall_seconds=4, memory_bytes=256 << 20, max_file_bytes=1 << 20)
SECRET = "sk-docflywheel-fake-secret-4c1d"
SECRET_VARIABLES = ("OPENAI_API_KEY", "DOCFLYWHEEL_FAKE_SECRET")
LIBC = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
UID = "import os\nprint(f'uid={os.getuid()}', flush=True)\n"


@dataclass(frozen=True)
class Hostile:
    """One snippet. expect: the statuses that count as contained; stdout: a regex its output must match
    (for snippets that catch their own failure, so the status alone says nothing)."""

    name: str
    category: Category
    code: str
    expect: tuple[str, ...]
    stdout: str | None = None
    limits: SandboxLimits = LIMITS


@dataclass(frozen=True)
class Outcome:
    case: Hostile
    result: SandboxResult
    problems: tuple[str, ...]

    @property
    def contained(self) -> bool:
        return not self.problems


CORPUS: tuple[Hostile, ...] = (
    # -- resource exhaustion ------------------------------------------------------------------------------
    Hostile("cpu_spin", "resource", "while True: pass", ("timeout",)),
    Hostile("sleep_forever", "resource", "import time\ntime.sleep(10_000)", ("timeout",),
            limits=SandboxLimits(cpu_seconds=1, wall_seconds=1)),
    Hostile("ignore_sigxcpu", "resource",
            "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True: pass", ("timeout", "killed")),
    Hostile("memory_hog", "resource", "hog = []\nwhile True: hog.append(bytearray(32 << 20))", ("memory",)),
    Hostile("one_huge_allocation", "resource", "x = bytearray(64 << 30)", ("memory",)),
    Hostile("recursion_bomb", "resource", "import sys\nsys.setrecursionlimit(10**6)\ndef f(): return f()\nf()",
            ("error", "memory", "timeout", "killed")),
    Hostile("fd_exhaustion", "resource", "files = [open('f.txt', 'a') for _ in range(100_000)]", ("error",)),
    Hostile("thread_bomb", "resource", "import threading, time\nfor _ in range(5000):\n"
            "    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()", ("error", "memory")),
    Hostile("disk_filler", "resource", "with open('big.bin', 'wb') as fh:\n    while True: fh.write(bytes(1 << 20))",
            ("killed",)),
    Hostile("tmpfs_filler", "resource", "with open('/dev/shm/docflywheel-fill', 'wb') as fh:\n"
            "    while True: fh.write(bytes(1 << 20))", ("denied", "killed")),
    Hostile("regex_catastrophe", "resource", "import re\nre.match(r'(a+)+$', 'a' * 64 + 'b')", ("timeout",)),
    # -- network ------------------------------------------------------------------------------------------
    Hostile("tcp_connect_out", "network", "import socket\nsocket.create_connection(('93.184.216.34', 80), timeout=2)",
            ("denied",)),
    Hostile("tcp_connect_our_loopback", "network",
            "import socket\nsocket.create_connection(('127.0.0.1', @PORT@), timeout=1)", ("denied",)),
    Hostile("dns_lookup", "network", "import socket\nsocket.getaddrinfo('example.com', 80)", ("denied",)),
    Hostile("urllib_fetch", "network", "import urllib.request\nurllib.request.urlopen('http://127.0.0.1:@PORT@/', "
            "timeout=1)", ("denied", "error")),
    Hostile("udp_send", "network", "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "s.sendto(b'x', ('127.0.0.1', @PORT@))", ("denied",)),
    Hostile("listen_server", "network", "import socket\ns = socket.socket()\ns.bind(('0.0.0.0', 8765))\ns.listen()",
            ("denied",)),
    Hostile("ctypes_connect_our_loopback", "network", LIBC + "import struct\nfd = libc.socket(2, 1, 0)\n"
            "address = struct.pack('<H', 2) + struct.pack('!H', @PORT@) + bytes([127, 0, 0, 1]) + bytes(8)\n"
            "print('connect', libc.connect(fd, address, 16))", ("ok",), stdout=r"connect -1"),
    # -- file system --------------------------------------------------------------------------------------
    Hostile("write_outside", "filesystem", "open('@OUTSIDE@', 'w').write('escaped')", ("denied",)),
    Hostile("write_after_chdir_root", "filesystem", "import os\nos.chdir('/tmp')\nopen('@OUTSIDE@', 'w')",
            ("denied",)),
    Hostile("delete_our_file", "filesystem", "import os\nos.remove('@CANARY@')", ("denied",)),
    Hostile("overwrite_our_file", "filesystem", "open('@CANARY@', 'w').write('pwned')", ("denied",)),
    Hostile("truncate_our_file", "filesystem", "import os\nos.truncate('@CANARY@', 0)", ("denied",)),
    Hostile("chmod_our_file", "filesystem", "import os\nos.chmod('@CANARY@', 0o777)", ("denied",)),
    Hostile("symlink_escape", "filesystem", "import os\nos.symlink('@CANARY@', 'link')\nopen('link', 'w').write('x')",
            ("denied",)),
    Hostile("rename_into_place", "filesystem", "open('x', 'w').write('x')\nimport os\nos.rename('x', '@OUTSIDE@')",
            ("denied",)),
    Hostile("rmtree_outside", "filesystem", "import shutil, os\nshutil.rmtree(os.path.dirname('@CANARY@'))",
            ("denied",)),
    Hostile("ctypes_write_outside", "filesystem", LIBC +
            "fd = libc.open(b'@OUTSIDE@', os.O_WRONLY | os.O_CREAT, 0o644)\nprint('open', fd)", ("ok",),
            stdout=r"open -1"),
    Hostile("ctypes_unlink_our_file", "filesystem", LIBC + "print('unlink', libc.unlink(b'@CANARY@'))", ("ok",),
            stdout=r"unlink -1"),
    Hostile("shell_redirect_outside", "filesystem", LIBC + "print('system', libc.system(b'echo pwned > @OUTSIDE@'))",
            ("ok",), stdout=r"system (?!0\b)-?\d+"),
    # -- processes ----------------------------------------------------------------------------------------
    Hostile("fork_bomb", "process", "import os\nwhile True: os.fork()", ("denied",)),
    Hostile("subprocess_shell", "process", "import subprocess\nsubprocess.run(['sh', '-c', 'echo spawned'])",
            ("denied",)),
    Hostile("os_system", "process", "import os\nos.system('echo spawned')", ("denied",)),
    Hostile("kill_parent", "process", "import os, signal\nos.kill(@PARENT@, signal.SIGKILL)", ("denied",)),
    Hostile("kill_everyone", "process", "import os, signal\nos.kill(-1, signal.SIGKILL)", ("denied",)),
    Hostile("ctypes_fork_bomb", "process", UID + LIBC + "made = 0\nfor _ in range(200):\n    pid = libc.fork()\n"
            "    if pid == 0:\n        libc.setsid()\n        libc.pause()\n    made += pid > 0\nprint('made', made)",
            ("ok",), stdout=r"made ([1-9]|[12]\d|3[01])\b"),
    Hostile("ctypes_daemon", "process", UID + LIBC + "if libc.fork() == 0:\n    libc.setsid()\n    libc.sleep(1000)",
            ("ok",)),
    Hostile("ctypes_kill_parent", "process", LIBC + "print('kill', libc.kill(@PARENT@, 9), libc.kill(-1, 9))",
            ("ok",), stdout=r"kill -1"),
    Hostile("ctypes_setuid_root", "process", LIBC + "print('setuid', libc.setuid(0), os.getuid() != 0)", ("ok",),
            stdout=r"setuid -1 True"),
    Hostile("segfault", "process", "import ctypes\nctypes.string_at(0)", ("killed",)),
    # -- environment --------------------------------------------------------------------------------------
    Hostile("read_environment", "environment", "import os\nprint(dict(os.environ))", ("ok",)),
    Hostile("read_parent_environ", "environment", "print(open('/proc/@PARENT@/environ', 'rb').read())", ("denied",)),
    Hostile("ctypes_read_parent_environ", "environment", LIBC +
            "fd = libc.open(b'/proc/@PARENT@/environ', os.O_RDONLY)\nbuf = ctypes.create_string_buffer(65536)\n"
            "print('read', fd, libc.read(fd, buf, 65536) if fd >= 0 else -1, buf.raw.rstrip(bytes(1)))", ("ok",),
            stdout=r"read -1 -1"),
    Hostile("list_root_home", "environment", "import os\nprint(os.listdir(os.path.expanduser('~root')))",
            ("ok", "denied")),
    Hostile("read_shadow", "environment", "print(open('/etc/shadow').read())", ("denied",)),
    # -- import tricks ------------------------------------------------------------------------------------
    Hostile("shadow_stdlib_module", "import", "import sys\nopen('json.py', 'w').write(\"open('@OUTSIDE@', 'w')\")\n"
            "sys.modules.pop('json', None)\nimport json", ("denied",)),
    Hostile("remove_audit_hook", "import", "import sys\nsys.audit_hooks = []\nsys.addaudithook(lambda *a: None)\n"
            "open('@OUTSIDE@', 'w')", ("denied",)),
    Hostile("import_docflywheel_store", "import",
            "from docflywheel.store import Store\nStore('@OUTSIDE@').init()", ("denied", "error"),
            limits=SandboxLimits(cpu_seconds=10, wall_seconds=20, memory_bytes=2 << 30)),
    Hostile("dunder_import_subprocess", "import", "__import__('subprocess').Popen(['id'])", ("denied",)),
    Hostile("webbrowser_antigravity", "import", "import antigravity", ("denied", "ok")),
    Hostile("exec_compiled_escape", "import", "exec(compile(\"open('@OUTSIDE@','w')\", 'x', 'exec'))", ("denied",)),
    # -- output floods ------------------------------------------------------------------------------------
    Hostile("stdout_flood", "output", "import sys\nwhile True: sys.stdout.write('x' * 65536)", ("killed",)),
    Hostile("stderr_flood", "output", "import sys\nwhile True: sys.stderr.write('y' * 65536)", ("killed",)),
    Hostile("binary_to_stdout", "output", "import sys, os\nos.write(1, bytes(range(256)) * 1000)", ("ok",)),
    Hostile("one_endless_line", "output", "print('z' * (4 << 20))", ("killed",)),
    Hostile("lone_surrogates", "output", "import sys\nsys.stdout.buffer.write('\\ud800'.encode('utf-8', "
            "'surrogatepass') * 1000)", ("ok",)),
)


def run_case(case: Hostile) -> Outcome:
    """Run one snippet in the sandbox and check every promise about the host; problems are empty when contained."""
    workspace = Path(f"/tmp/docflywheel-reliability-{uuid.uuid4().hex}")
    workspace.mkdir()
    canary = workspace / "canary.txt"
    canary.write_text("still here")
    # Writable by anyone, so only the sandbox (read-only file system, audit hook) stands between it and the snippet.
    workspace.chmod(0o777)
    canary.chmod(0o666)
    outside = Path(f"/tmp/docflywheel-escape-{uuid.uuid4().hex}")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    code = (case.code.replace("@OUTSIDE@", str(outside)).replace("@CANARY@", str(canary))
            .replace("@PORT@", str(listener.getsockname()[1])).replace("@PARENT@", str(os.getpid())))
    saved = {name: os.environ.get(name) for name in SECRET_VARIABLES}
    os.environ.update({name: SECRET for name in SECRET_VARIABLES})
    try:
        result = run_python(code, limits=case.limits)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    problems = []
    if result.status not in case.expect:
        problems.append(f"status {result.status} ({result.reason or 'no reason'}), expected one of {case.expect}")
    if case.stdout and not re.search(case.stdout, result.stdout):
        problems.append(f"stdout {result.stdout[-200:]!r} does not match {case.stdout!r}")
    if not canary.is_file() or canary.read_text() != "still here":
        problems.append("our canary file was changed")
    if outside.exists() or os.path.lexists(outside):
        problems.append(f"{outside} was created outside the working directory")
        outside.unlink(missing_ok=True)
    try:
        listener.accept()[0].close()
        problems.append("a connection reached our loopback listener")
    except BlockingIOError:
        pass
    listener.close()
    if SECRET in result.stdout + result.stderr:
        problems.append("a secret of ours reached the snippet's output")
    uid = re.search(r"^uid=(\d+)$", result.stdout, re.MULTILINE)
    if uid and (left := processes_of(int(uid.group(1)))):
        problems.append(f"{len(left)} process(es) of the snippet's uid still alive")
    canary.unlink(missing_ok=True)
    workspace.rmdir()
    return Outcome(case, result, tuple(problems))


def processes_of(uid: int) -> list[int]:
    """Live (non-zombie) processes of `uid`, after giving the kernel a moment to finish killing them."""
    for _ in range(20):
        alive = []
        for entry in Path("/proc").iterdir():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            if f"\nUid:\t{uid}\t" in status and "\nState:\tZ" not in status:
                alive.append(int(entry.name))
        if not alive:
            return []
        time.sleep(0.1)
    return alive
