"""The sandbox's side of the fence: confine this process, then run the snippet.

Started by `sandbox.run_python` as `python -I -B sandbox_child.py SPEC`; standard library only, because it
runs before anything else is trusted. Kernel layers first (namespaces, read-only filesystem, rlimits, a
throwaway uid), then an audit hook that refuses with a clear message what the kernel would refuse anyway.
"""

from __future__ import annotations

import builtins
import ctypes
import errno
import json
import os
import re
import resource
import signal
import socket
import sys
import traceback
from typing import Any

DENIED_EXIT = 77
MEMORY_EXIT = 78
FILE_SIZE_EXIT = 79  # Python ignores SIGXFSZ, so RLIMIT_FSIZE shows up as OSError(EFBIG)
SNIPPET = "snippet.py"

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
_KEPT_MOUNT_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": 1024,
                     "nodiratime": 2048, "relatime": 1 << 21, "strictatime": 1 << 24}
PR_SET_NO_NEW_PRIVS = 38

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]


class SandboxDenied(PermissionError):
    """Raised by the audit hook for an operation the sandbox does not allow."""


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def enc(text: str | None) -> bytes | None:
        return None if text is None else os.fsencode(text)

    _check(_libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def _unshare(flags: int) -> bool:
    # os.unshare only exists from Python 3.12 on.
    return _libc.unshare(flags) == 0


def _isolate(as_root: bool, uid: int) -> set[str]:
    """Enter new namespaces (network, mount, pid; a user namespace too when not root); returns their names."""
    if as_root:
        for flags, names in ((CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID, {"net", "mount", "pid"}),
                             (CLONE_NEWNS | CLONE_NEWNET, {"net", "mount"}), (CLONE_NEWNET, {"net"})):
            if _unshare(flags):
                return names
        return set()
    if not _unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID):
        return set()
    # Map our own ids onto themselves so that files keep their owners inside the user namespace.
    gid = os.getgid()
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as fh:
            fh.write(text)
    return {"net", "mount", "pid"}


def _blocked_ancestor(path: str) -> str | None:
    """The topmost directory above `path` that a stranger (other uid, other gid) cannot traverse."""
    current = ""
    for part in path.strip("/").split("/")[:-1]:
        current += "/" + part
        if not os.stat(current).st_mode & 0o001:
            return current
    return None


def _expose(paths: list[str]) -> None:
    """Hide every untraversable ancestor (such as /root) under a tmpfs and bind the needed paths back."""
    hidden: dict[str, list[str]] = {}
    for path in sorted({os.path.realpath(p) for p in paths if os.path.isdir(p)}):
        top = _blocked_ancestor(path)
        if top and not any(path.startswith(kept + "/") for kept in hidden.get(top, [])):
            hidden.setdefault(top, []).append(path)
    for top, needed in hidden.items():
        fds = [os.open(p, os.O_PATH) for p in needed]
        _mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=1m")
        for path, fd in zip(needed, fds, strict=True):
            os.makedirs(path, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
            os.close(fd)


def _mountpoints() -> list[tuple[str, list[str]]]:
    points = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            fields = line.split()
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            points.append((point, fields[5].split(",")))
    return points


def _lock_filesystem(workdir: str, as_root: bool, parent_mount_ns: str) -> list[str]:
    """Everything read-only except the working directory; returns what was done."""
    if os.readlink("/proc/self/ns/mnt") == parent_mount_ns:
        # Remounting here would change the host's mounts, not a private copy.
        raise RuntimeError("sandbox: refusing to remount: not in a mount namespace of its own")
    done = []
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    if as_root:
        _expose([sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable)),
                 os.path.dirname(os.path.abspath(__file__)), workdir, *sys.path])
        try:
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible")
            done.append("proc-hidepid")
        except OSError:
            pass
    _mount(workdir, workdir, None, MS_BIND)
    failed = 0
    for point, options in _mountpoints():
        if point == workdir or point.startswith(workdir + "/"):
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for option in options:
            flags |= _KEPT_MOUNT_FLAGS.get(option, 0)
        try:
            _mount(None, point, None, flags)
        except OSError:
            failed += 1
    _mount(None, workdir, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)
    done.append("read-only-fs" if not failed else f"read-only-fs ({failed} mounts left writable)")
    return done


def _set_limits(limits: dict[str, Any]) -> None:
    cpu = max(1, int(limits["cpu_seconds"] + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"], limits["memory_bytes"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["max_file_bytes"], limits["max_file_bytes"]))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["max_processes"], limits["max_processes"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _drop_privileges(uid: int) -> None:
    # RLIMIT_NPROC only binds a non-root uid; a fresh one per run also keeps runs from signalling each other.
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def _install_guard(workdir: str, allow_subprocess: bool) -> None:
    """Refuse network, spawning, signals to others, and writes outside `workdir`, before the kernel must."""
    inside_root = os.path.realpath(workdir)
    me = os.getpid()
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    other_proc = re.compile(r"^/proc/(\d+)(/|$)")
    spawning = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                "os.forkpty", "pty.spawn"}
    dns = {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr",
           "socket.getnameinfo"}
    sending = {"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"}
    changed_paths = {"os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.chmod": (0,), "os.chown": (0,),
                     "os.truncate": (0,), "os.utime": (0,), "shutil.rmtree": (0,), "os.rename": (0, 1),
                     "os.link": (1,), "os.symlink": (1,)}

    def resolve(path: Any) -> str | None:
        if isinstance(path, int) or path is None:
            return None
        return os.path.realpath(os.fsdecode(path))

    def outside(path: Any) -> bool:
        real = resolve(path)
        return real is not None and real != "/dev/null" and real != inside_root \
            and not real.startswith(inside_root + "/")

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, _, flags = args
            real = resolve(path)
            if real is None:
                return
            match = other_proc.match(real)
            if match and int(match.group(1)) != me:
                raise SandboxDenied(f"sandbox: reading another process's {real} is not allowed")
            if flags and flags & write_flags and outside(path):
                raise SandboxDenied(f"sandbox: writing outside the working directory is not allowed: {real}")
        elif event in changed_paths:
            if any(outside(args[i]) for i in changed_paths[event]):
                raise SandboxDenied(f"sandbox: {event} outside the working directory is not allowed")
        elif (event == "socket.__new__" and args[1] != socket.AF_UNIX) or event in dns or event in sending:
            raise SandboxDenied(f"sandbox: network access is not allowed ({event})")
        elif event in spawning and not allow_subprocess:
            raise SandboxDenied(f"sandbox: starting processes is not allowed ({event})")
        elif event == "os.kill" and args[0] not in (0, me, -os.getpgrp()) \
                or event == "os.killpg" and args[0] != os.getpgrp():
            raise SandboxDenied(f"sandbox: signalling other processes is not allowed ({event} {args[0]})")

    sys.addaudithook(hook)


def _is_denial(exc: BaseException) -> bool:
    return isinstance(exc, PermissionError) or (
        isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS))


def _run_snippet(workdir: str) -> int:
    path = os.path.join(workdir, SNIPPET)
    with open(path, encoding="utf-8") as fh:
        source = fh.read()
    sys.argv = [SNIPPET]
    sys.path.insert(0, workdir)
    namespace = {"__name__": "__main__", "__file__": path, "__builtins__": builtins}
    try:
        exec(compile(source, SNIPPET, "exec"), namespace)
    except SystemExit as exc:
        return _exit_status(exc)
    except BaseException as exc:  # noqa: BLE001 - every failure of the snippet becomes an exit status
        try:
            traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None)
        except MemoryError:
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        except OSError:
            pass  # stderr itself is past the file-size limit
        if isinstance(exc, MemoryError):
            return MEMORY_EXIT
        if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
            return FILE_SIZE_EXIT
        return DENIED_EXIT if _is_denial(exc) else 1
    return 0


def _flush_stderr() -> None:
    try:
        sys.stderr.flush()
    except (OSError, ValueError):  # a flood past RLIMIT_FSIZE: what cannot be written is lost anyway
        pass


def _kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it ended on its own in the meantime


def _exit_status(exc: SystemExit) -> int:
    if exc.code is None or isinstance(exc.code, int):
        return (exc.code or 0) & 0xFF
    print(exc.code, file=sys.stderr)
    return 1


def _confine_and_run(spec: dict[str, Any], applied: list[str]) -> int:
    """Limits, the throwaway uid, the report to the parent, the guard; then the snippet."""
    workdir, uid = spec["workdir"], spec["uid"]
    _set_limits(spec["limits"])
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0:
        applied.append("no-new-privileges")
    if uid is not None and ("read-only-fs" in applied or not _blocked_ancestor(sys.base_prefix + "/")):
        _drop_privileges(uid)
        applied.append("throwaway-uid")
    os.write(spec["report_fd"], json.dumps({"protections": applied}).encode())
    os.close(spec["report_fd"])
    os.chdir(workdir)
    _install_guard(workdir, spec["allow_subprocess"])
    try:
        return _run_snippet(workdir)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, MemoryError):
                pass


def _init_of_namespace(spec: dict[str, Any], applied: list[str]) -> int:
    """PID 1 of the new pid namespace: runs the snippet as its child and reaps every orphan.

    When it exits the kernel kills whatever is left in the namespace, daemons included, and no zombie stays
    behind (the machine's own init may not reap). Signals become 128 + number, as in a shell.
    """
    snippet = os.fork()
    if snippet == 0:
        try:
            code = _confine_and_run(spec, applied)
        except BaseException:  # noqa: BLE001 - a failure to confine; the parent reads it from stderr
            traceback.print_exc()
            code = 1
        _flush_stderr()
        os._exit(code)
    os.close(spec["report_fd"])
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == snippet:
            code = os.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code


def main(spec: dict[str, Any]) -> int:
    as_root = os.geteuid() == 0
    uid = spec["uid"] if as_root else None
    spec = {**spec, "uid": uid}
    applied = ["rlimits", "new-session", "minimal-env", "temp-workdir", "audit-hook"]
    namespaces = _isolate(as_root, os.getuid())
    applied += [f"{name}-namespace" for name in ("net", "pid") if name in namespaces]
    if "pid" not in namespaces:
        if "mount" in namespaces:
            applied += _lock_filesystem(spec["workdir"], as_root, spec["parent_mount_ns"])
        return _confine_and_run(spec, applied)
    init = os.fork()
    if init == 0:
        try:
            applied += _lock_filesystem(spec["workdir"], as_root, spec["parent_mount_ns"])
            code = _init_of_namespace(spec, applied)
        except BaseException:  # noqa: BLE001 - the parent reads the reason from stderr
            traceback.print_exc()
            code = 1
        _flush_stderr()
        os._exit(code)
    os.close(spec["report_fd"])
    # The parent asks for an early end with SIGTERM; killing the namespace's init ends everything in it.
    signal.signal(signal.SIGTERM, lambda *_: _kill_quietly(init))
    code = os.waitstatus_to_exitcode(os.waitpid(init, 0)[1])
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
