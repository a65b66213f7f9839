"""Run untrusted Python (examples from LLM-written docs) in a confined subprocess.

Layers, strongest first, each used where this machine allows it (`SandboxResult.protections` says which):
a network namespace with only loopback; a mount namespace where everything but the throwaway working
directory is read-only and other users' processes are hidden; a throwaway uid, so the snippet can neither
signal nor read our processes and RLIMIT_NPROC applies (it does not bind root); rlimits on CPU, memory, file
size, processes and open files; a new session whose processes, and every process of the throwaway uid, are
killed at the end; a minimal environment; an audit hook that refuses network, spawning, signals and writes
outside the working directory with a readable error (it is a courtesy, not a wall: ctypes gets past it).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import IO, Literal

from docflywheel.errors import FlywheelError, InputError
from docflywheel.eval.sandbox_child import DENIED_EXIT, FILE_SIZE_EXIT, MEMORY_EXIT, SNIPPET

Status = Literal["ok", "error", "timeout", "memory", "killed", "denied"]

_CHILD = str(Path(__file__).with_name("sandbox_child.py"))
_KILL = shutil.which("kill") or "/bin/kill"
_SIGNAL_REASONS: dict[int, str] = {signal.SIGXCPU: "CPU-time limit reached", signal.SIGSEGV: "segmentation fault",
                                   signal.SIGXFSZ: "file or output size limit reached",
                                   signal.SIGKILL: "killed by SIGKILL"}


class SandboxError(FlywheelError):
    """The sandbox itself could not start (not the snippet failing)."""


@dataclass(frozen=True)
class SandboxLimits:
    """What one run may use."""

    cpu_seconds: float = 5.0
    wall_seconds: float = 10.0
    memory_bytes: int = 1 << 30  # address space, so it counts reserved as well as touched memory
    max_processes: int = 32  # of the throwaway uid, threads included
    max_output_bytes: int = 64 * 1024  # kept of stdout and of stderr each
    max_file_bytes: int = 8 << 20  # any one file the snippet writes, stdout and stderr included
    allow_subprocess: bool = False


@dataclass(frozen=True)
class SandboxResult:
    """How a run ended. `exit_code` is negative for a signal (as is an exit status above 128 the snippet
    chose itself); None when the wall-clock limit stopped it."""

    status: Status
    exit_code: int | None
    stdout: str
    stderr: str
    duration_s: float
    reason: str = ""
    truncated: bool = False
    protections: tuple[str, ...] = ()
    files: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def run_python(code: str, *, files: Mapping[str, str] | None = None, limits: SandboxLimits | None = None,
               stdin: str = "", collect: Sequence[str] = ()) -> SandboxResult:
    """Run `code` as a script in a fresh sandbox.

    files: extra files written into the working directory first (relative names), e.g. a module to import.
    collect: names of files in the working directory to read back into `SandboxResult.files`.
    """
    limits = limits or SandboxLimits()
    as_root = os.geteuid() == 0
    uid = 1_000_000 + secrets.randbelow(1_000_000_000) if as_root else None
    workdir = Path(tempfile.mkdtemp(prefix="docflywheel-sandbox-")).resolve()
    try:
        _populate(workdir, {**(files or {}), SNIPPET: code}, uid)
        with tempfile.TemporaryFile() as stdin_file, tempfile.TemporaryFile() as out, \
                tempfile.TemporaryFile() as err:
            stdin_file.write(stdin.encode("utf-8"))
            stdin_file.seek(0)
            report, exit_code, timed_out, duration = _launch(workdir, uid, limits, stdin_file, out, err)
            stdout, out_cut = _read_capped(out, limits.max_output_bytes)
            stderr, err_cut = _read_capped(err, limits.max_output_bytes)
        if report is None and not timed_out:
            last = stderr.strip().splitlines()[-1:] or ["no output"]
            raise SandboxError(f"sandbox could not start: {last[0]}; run it by hand with `{sys.executable} -I "
                               f"{_CHILD}` to see why")
        status, reason = _classify(exit_code, timed_out, limits)
        return SandboxResult(status=status, exit_code=exit_code, stdout=stdout, stderr=stderr,
                             duration_s=duration, reason=reason, truncated=out_cut or err_cut,
                             protections=tuple(report["protections"]) if report else (),
                             files=_collect(workdir, collect, limits.max_output_bytes))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@lru_cache(maxsize=1)
def protections() -> tuple[str, ...]:
    """The protections a sandbox run gets on this machine (found by running an empty snippet once)."""
    return run_python("pass").protections


def _populate(workdir: Path, files: Mapping[str, str], uid: int | None) -> None:
    for name, text in files.items():
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise InputError(f"sandbox file name {name!r} must be a plain relative path; drop '..' and leading '/'")
        target = workdir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    if uid is not None:
        for path in [workdir, *workdir.rglob("*")]:
            os.chown(path, uid, uid)
    workdir.chmod(0o700)


def _launch(workdir: Path, uid: int | None, limits: SandboxLimits, stdin: IO[bytes], out: IO[bytes],
            err: IO[bytes]) -> tuple[dict | None, int | None, bool, float]:
    read_end, write_end = os.pipe()
    spec = {"workdir": str(workdir), "uid": uid, "report_fd": write_end, "allow_subprocess": limits.allow_subprocess,
            "parent_mount_ns": os.readlink("/proc/self/ns/mnt"),
            "limits": {"cpu_seconds": limits.cpu_seconds, "memory_bytes": limits.memory_bytes,
                       "max_file_bytes": limits.max_file_bytes, "max_processes": limits.max_processes}}
    start = time.monotonic()
    try:
        proc = subprocess.Popen([sys.executable, "-I", "-B", "-X", "utf8", _CHILD, json.dumps(spec)],
                                stdin=stdin, stdout=out, stderr=err, cwd=workdir, env=_environment(workdir),
                                start_new_session=True, pass_fds=(write_end,))
    finally:
        os.close(write_end)
    timed_out = False
    try:
        exit_code: int | None = proc.wait(timeout=limits.wall_seconds)
    except subprocess.TimeoutExpired:
        timed_out, exit_code = True, None
        proc.terminate()  # the child then kills its pid namespace and reaps it, leaving no zombie
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    finally:
        _kill_everything(proc, uid)
    duration = time.monotonic() - start
    with os.fdopen(read_end, "rb") as pipe:
        raw = pipe.read()
    report = json.loads(raw) if raw else None
    if report and "pid-namespace" in report["protections"] and exit_code is not None and exit_code > 128:
        exit_code = 128 - exit_code  # the namespace's init reports a signal as 128 + its number
    return report, exit_code, timed_out, duration


def _environment(workdir: Path) -> dict[str, str]:
    # Built from nothing, so no secret of ours reaches the snippet; one thread per math library.
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(workdir), "TMPDIR": str(workdir),
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1"}


def _kill_everything(proc: subprocess.Popen[bytes], uid: int | None) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    if uid is not None:
        # kill -1 from the throwaway uid reaches every process of that uid, even those that left the session.
        subprocess.run([_KILL, "-KILL", "-1"], user=uid, group=uid, extra_groups=[], env={},
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=30)


def _classify(exit_code: int | None, timed_out: bool, limits: SandboxLimits) -> tuple[Status, str]:
    if timed_out:
        return "timeout", f"wall-clock limit of {limits.wall_seconds:g} s reached"
    if exit_code == 0:
        return "ok", ""
    if exit_code == DENIED_EXIT:
        return "denied", "the snippet tried something the sandbox does not allow"
    if exit_code == MEMORY_EXIT:
        return "memory", f"memory limit of {limits.memory_bytes >> 20} MiB reached"
    if exit_code == FILE_SIZE_EXIT:
        return "killed", f"file or output size limit of {limits.max_file_bytes >> 10} KiB reached"
    if exit_code is not None and exit_code < 0:
        reason = _SIGNAL_REASONS.get(-exit_code, f"killed by signal {-exit_code}")
        return ("timeout" if -exit_code == signal.SIGXCPU else "killed"), reason
    return "error", f"exit code {exit_code}"


def _read_capped(stream: IO[bytes], cap: int) -> tuple[str, bool]:
    size = stream.seek(0, os.SEEK_END)
    stream.seek(0)
    data = stream.read(cap)
    text = data.decode("utf-8", errors="replace")
    if size > cap:
        text += f"\n[... {size - cap} more bytes cut]"
    return text, size > cap


def _collect(workdir: Path, names: Sequence[str], cap: int) -> dict[str, str]:
    # The snippet owns these files: no following links, no blocking on a FIFO, regular files only.
    found = {}
    for name in names:
        try:
            fd = os.open(workdir / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        with os.fdopen(fd, "rb") as fh:
            if stat.S_ISREG(os.fstat(fd).st_mode) and (workdir / name).resolve().is_relative_to(workdir):
                found[name] = fh.read(cap).decode("utf-8", errors="replace")
    return found
