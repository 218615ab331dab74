"""Hostile code against the real sandbox: each attempt fails safely, with a clear error, and
the server (this test process) is unharmed. Limits are short here (3 s wall, 1 s CPU)."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from functions import sandbox, seccomp, services
from functions.errors import FunctionArgsInvalid, FunctionBusy
from functions.models import Function
from tests.functions.conftest import SEED_SOURCE, create_function, run_function
from users.models import User

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_ready")]


def run_source(client: APIClient, source: str, args: dict | None = None, name: str = "f") -> Any:
    created = create_function(client, name, source)
    return run_function(client, created["id"], args)


def sandbox_processes() -> list[tuple[int, str]]:
    """Live (non-zombie) processes of the host that run under a sandbox pool uid."""
    base = django_settings.FUNCTIONS_SANDBOX_UID_BASE
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        uid = int(fields["Uid"].split()[0])
        in_pool = base <= uid < base + django_settings.FUNCTIONS_SANDBOX_UID_COUNT
        if in_pool and not fields["State"].strip().startswith("Z"):
            found.append((uid, fields["Name"].strip()))
    return found


def assert_unharmed(client: APIClient) -> None:
    """The server still forks, answers and runs functions; the run left nothing behind."""
    assert subprocess.run(["true"], check=False).returncode == 0  # noqa: S607
    assert client.get("/health").status_code == 200
    again = run_source(client, SEED_SOURCE, {"param": "ok"}, name="my_function")
    assert again.json()["result"] == "OK"
    deadline = time.monotonic() + 2
    while sandbox_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox_processes() == []


def test_seed_example_returns_test_upper_cased(admin_client: APIClient) -> None:
    response = run_source(admin_client, SEED_SOURCE, {"param": "test"}, name="my_function")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["result"] == "TEST"
    assert body["stdout"] == ""
    assert body["duration_ms"] > 0


def test_output_and_async_functions(admin_client: APIClient) -> None:
    source = "import asyncio\nasync def f(n: int):\n    print('n is', n)\n    await asyncio.sleep(0)\n    return [n, {'ok': True}]\n"  # noqa: E501

    body = run_source(admin_client, source, {"n": 3}).json()

    assert body["result"] == [3, {"ok": True}]
    assert body["stdout"] == "n is 3\n"


def test_exceptions_come_back_with_the_line(admin_client: APIClient) -> None:
    response = run_source(admin_client, "def f():\n    raise ValueError('boom')\n")

    assert response.status_code == 400
    assert response.json()["code"] == "function_error"
    assert "ValueError: boom" in response.json()["detail"]
    assert 'File "<function>", line 2' in response.json()["detail"]


def test_reading_etc_passwd_finds_nothing(admin_client: APIClient) -> None:
    response = run_source(admin_client, "def f():\n    return open('/etc/passwd').read()\n")

    assert response.status_code == 400
    assert "FileNotFoundError" in response.json()["detail"]
    assert "root:" not in response.content.decode()


def test_the_project_and_its_data_do_not_exist_inside(admin_client: APIClient) -> None:
    paths = [
        str(django_settings.BASE_DIR / "manage.py"),
        str(django_settings.BASE_DIR),
        str(django_settings.DATA_DIR / "secret_key"),
        str(django_settings.DATA_DIR),
        "/etc",
        "/home",
        "/work",
    ]
    source = f"import os\ndef f():\n    return [os.path.exists(p) for p in {paths!r}], sorted(os.listdir('/'))\n"  # noqa: E501

    body = run_source(admin_client, source).json()

    exists, root = body["result"]
    assert exists == [False] * len(paths)
    assert not {"etc", "home", "root", "var", "work", "srv"} & set(root)


def test_environment_secrets_are_not_inherited(
    admin_client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANARY_SECRET", "canary-7f3a91")
    source = (
        "import os\ndef f():\n"
        "    out = dict(os.environ)\n"
        "    for pid in os.listdir('/proc'):\n"
        "        try:\n"
        "            raw = open(f'/proc/{pid}/environ', 'rb').read()\n"
        "            out[pid] = raw.decode(errors='replace')\n"
        "        except OSError as exc:\n"
        "            out[pid] = str(exc)\n"
        "    return out\n"
    )

    response = run_source(admin_client, source)

    assert response.status_code == 200
    text = response.content.decode()
    assert "canary-7f3a91" not in text
    assert django_settings.SECRET_KEY not in text
    assert "DATABASE_URL" not in text


def test_tcp_to_a_loopback_canary_never_connects(admin_client: APIClient) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        source = (
            "import socket\ndef f():\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "    return 'connected'\n"
        )

        response = run_source(admin_client, source)

        assert response.status_code == 400
        assert response.json()["code"] == "function_error"
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing ever knocked


def test_the_network_namespace_has_only_a_loopback(admin_client: APIClient) -> None:
    source = "def f():\n    return open('/proc/net/dev').read()\n"

    lines = run_source(admin_client, source).json()["result"].splitlines()[2:]

    assert [line.split(":")[0].strip() for line in lines] == ["lo"]


@pytest.mark.skipif(seccomp.current_arch() is None, reason="no seccomp filter for this CPU")
def test_seccomp_denies_namespaces_mounts_ptrace_bpf_and_inet_sockets(
    admin_client: APIClient,
) -> None:
    source = """
import ctypes, socket

def f():
    libc = ctypes.CDLL(None, use_errno=True)
    def call(name, *args):
        result = getattr(libc, name)(*args)
        return [result, ctypes.get_errno()]
    out = {
        "unshare": call("unshare", 0x10000000),
        "mount": call("mount", b"none", b"/tmp", b"tmpfs", 0, None),
        "ptrace": call("ptrace", 16, 1, 0, 0),
        "bpf": call("syscall", %d, 0, 0, 0),
    }
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        out["inet6"] = "allowed"
    except OSError as exc:
        out["inet6"] = exc.errno
    a, b = socket.socketpair()
    a.send(b"x")
    out["unix"] = b.recv(1).decode()
    return out
""" % seccomp.current_arch().numbers["bpf"]  # noqa: UP031

    result = run_source(admin_client, source).json()["result"]

    assert result["unshare"] == [-1, 1]
    assert result["mount"] == [-1, 1]
    assert result["ptrace"] == [-1, 1]
    assert result["bpf"] == [-1, 1]
    assert result["inet6"] == 97
    assert result["unix"] == "x"


def test_runs_are_an_unprivileged_uid_inside_and_out(admin_user: User) -> None:
    function = services.function_create(
        user=admin_user,
        name="f",
        content="import os, time\ndef f():\n    time.sleep(1)\n    return [os.getuid(), os.getgid()]",  # noqa: E501
    )
    seen: list[tuple[int, str]] = []
    results: list[Any] = []
    thread = threading.Thread(
        target=lambda: results.append(
            services.function_run(function=function, args={}, user=admin_user)
        )
    )
    thread.start()
    deadline = time.monotonic() + 3
    while not seen and time.monotonic() < deadline:
        seen = sandbox_processes()
        time.sleep(0.05)
    thread.join()

    assert results[0].result == [65534, 65534]  # "nobody" inside its user namespace
    assert seen, "no process of a sandbox uid was seen while the run went on"
    assert all(uid != 0 for uid, _ in seen)  # and a pool uid, never root, outside


def test_an_infinite_loop_hits_the_cpu_limit(admin_client: APIClient) -> None:
    response = run_source(admin_client, "def f():\n    while True:\n        pass\n")

    assert response.status_code == 400
    assert response.json()["code"] == "function_resource_limit"
    assert "seconds of CPU" in response.json()["detail"]
    assert_unharmed(admin_client)


def test_sleeping_an_hour_hits_the_wall_clock(admin_client: APIClient) -> None:
    started = time.monotonic()
    response = run_source(admin_client, "import time\ndef f():\n    time.sleep(3600)\n")

    assert response.status_code == 400
    assert response.json()["code"] == "function_timeout"
    assert time.monotonic() - started < 10
    assert_unharmed(admin_client)


def test_allocating_10_gb_runs_out_of_memory(admin_client: APIClient) -> None:
    response = run_source(admin_client, "def f():\n    return len(bytearray(10 * 1024**3))\n")

    assert response.status_code == 400
    assert response.json()["code"] == "function_resource_limit"
    assert "out of memory" in response.json()["detail"]
    assert_unharmed(admin_client)


def test_a_fork_bomb_is_contained(admin_client: APIClient) -> None:
    source = "import os\ndef f():\n    while True:\n        os.fork()\n"

    response = run_source(admin_client, source)

    assert response.status_code == 400
    assert response.json()["code"] in {"function_error", "function_timeout"}
    assert_unharmed(admin_client)


def test_writing_1_gb_to_a_file_hits_the_file_size_limit(admin_client: APIClient) -> None:
    source = (
        "def f():\n    with open('/tmp/big', 'wb') as out:\n"
        "        for _ in range(1024):\n            out.write(b'x' * 1024 * 1024)\n"
    )

    response = run_source(admin_client, source)

    assert response.status_code == 400
    assert "File too large" in response.json()["detail"]
    assert_unharmed(admin_client)


def test_printing_100_mb_is_cut_off(admin_client: APIClient) -> None:
    response = run_source(admin_client, "def f():\n    print('x' * 100 * 1024 * 1024)\n")

    assert response.status_code == 400
    assert response.json()["code"] == "function_output_too_large"
    assert len(response.content) < 10_000
    assert_unharmed(admin_client)


def test_a_background_process_does_not_outlive_the_run(admin_client: APIClient) -> None:
    source = (
        "import os, subprocess, sys\ndef f():\n"
        "    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'],\n"
        "                     start_new_session=True)\n"
        "    if os.fork() == 0:\n        os.setsid()\n        import time; time.sleep(300)\n"
        "    return 'spawned'\n"
    )

    response = run_source(admin_client, source)

    assert response.json()["result"] == "spawned"
    assert_unharmed(admin_client)  # asserts that no process of a sandbox uid is left


@pytest.mark.parametrize(
    "args",
    [{}, {"param": 5}, {"param": "x", "extra": 1}, {"param": ["x"]}],
)
def test_arguments_that_do_not_match_the_signature_are_422(
    admin_client: APIClient, args: dict
) -> None:
    response = run_source(admin_client, SEED_SOURCE, args, name="my_function")

    assert response.status_code == 422
    assert response.json()["code"] == "function_args_invalid"


def test_args_must_be_an_object(admin_client: APIClient) -> None:
    created = create_function(admin_client, "my_function", SEED_SOURCE)

    response = admin_client.post(f"/api/functions/{created['id']}/test", {"args": [1]})

    assert response.status_code == 400


@pytest.mark.parametrize(
    ("value", "needle"),
    [("object()", "not JSON-serialisable"), ("float('nan')", "not JSON-serialisable")],
)
def test_results_that_are_not_json_are_refused(
    admin_client: APIClient, value: str, needle: str
) -> None:
    response = run_source(admin_client, f"def f():\n    return {value}\n")

    assert response.status_code == 400
    assert response.json()["code"] == "function_result_invalid"
    assert needle in response.json()["detail"]


def test_a_forged_report_is_only_ever_json(admin_client: APIClient) -> None:
    source = (
        "import os, sys\ndef f():\n"
        '    os.write(int(sys.argv[1]), b\'__import__("os").system("x")\')\n'
        "    os._exit(0)\n"
    )

    response = run_source(admin_client, source)

    assert response.status_code == 400
    assert response.json()["code"] == "function_result_invalid"


def test_a_host_without_bubblewrap_refuses_to_run(admin_client: APIClient, settings: Any) -> None:
    created = create_function(admin_client, "my_function", SEED_SOURCE)
    settings.FUNCTIONS_SANDBOX_BWRAP = "/nonexistent/bwrap"

    response = run_function(admin_client, created["id"], {"param": "x"})

    assert response.status_code == 503
    assert response.json()["code"] == "sandbox_unavailable"
    assert "bubblewrap" in response.json()["detail"]
    assert "never run without the sandbox" in response.json()["detail"]


def test_a_host_without_user_namespaces_refuses_to_run(
    admin_client: APIClient, settings: Any
) -> None:
    """bubblewrap's own complaint (here from a stand-in) becomes the 503's reason."""
    created = create_function(admin_client, "my_function", SEED_SOURCE)
    folder = Path(tempfile.mkdtemp(prefix="fake-bwrap-"))
    try:
        fake = folder / "bwrap"
        fake.write_text(
            "#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n"
        )
        for path in (folder, fake):
            path.chmod(0o755)  # the stand-in runs as a sandbox uid, like bubblewrap would
        settings.FUNCTIONS_SANDBOX_BWRAP = str(fake)

        response = run_function(admin_client, created["id"], {"param": "x"})
    finally:
        shutil.rmtree(folder)

    assert response.status_code == 503
    assert response.json()["code"] == "sandbox_unavailable"
    assert "bwrap: setting up uid map: Permission denied" in response.json()["detail"]


def test_too_many_runs_of_one_user_get_429(admin_user: User, settings: Any) -> None:
    settings.FUNCTIONS_MAX_RUNS_PER_USER = 1
    settings.FUNCTIONS_RUN_QUEUE_TIMEOUT = 0
    function = services.function_create(
        user=admin_user, name="f", content="import time\ndef f():\n    time.sleep(1)\n"
    )
    results: list[Any] = []
    first = threading.Thread(
        target=lambda: results.append(
            services.function_run(function=function, args={}, user=admin_user)
        )
    )
    first.start()
    time.sleep(0.3)

    with pytest.raises(FunctionBusy) as busy:
        services.function_run(function=function, args={}, user=admin_user)
    first.join()

    assert busy.value.status_code == 429
    assert [r.result for r in results] == [None]


def test_runs_beyond_the_process_limit_wait_then_get_429(
    admin_user: User, make_user: Any, settings: Any
) -> None:
    settings.FUNCTIONS_MAX_CONCURRENT_RUNS = 1
    settings.FUNCTIONS_RUN_QUEUE_TIMEOUT = 0
    function = services.function_create(
        user=admin_user,
        name="f",
        content="import time\ndef f():\n    time.sleep(1)\n",
        is_global=True,
    )
    other_admin = make_user(role=User.Role.ADMIN)
    first = threading.Thread(
        target=lambda: services.function_run(function=function, args={}, user=admin_user)
    )
    first.start()
    time.sleep(0.3)

    with pytest.raises(FunctionBusy):
        services.function_run(function=function, args={}, user=other_admin)
    first.join()


def test_the_seccomp_program_is_well_formed() -> None:
    for arch in seccomp.ARCHES.values():
        program = seccomp.program(arch)
        assert len(program) % 8 == 0
        assert 0 < len(program) // 8 < 4096  # the kernel's BPF_MAXINSNS


def test_the_command_line_binds_nothing_of_the_project() -> None:
    host = sandbox.availability()
    cmd = sandbox.command(
        host=host, limits=sandbox.Limits.from_settings(), report_fd=5, seccomp_fd=6
    )
    text = json.dumps(cmd[: cmd.index("--", cmd.index("--") + 1)])

    assert str(django_settings.BASE_DIR) not in text
    assert str(django_settings.DATA_DIR) not in text
    assert "--unshare-all" in cmd
    assert "--clearenv" in cmd
    assert os.path.basename(cmd[0]) == "prlimit"
    assert Function.objects.count() == 0


def test_the_sandbox_checks_arguments_again(admin_user: User) -> None:
    """A schema that lets anything through (say, written before a change) is not the last word."""
    function = Function(
        user=admin_user, name="f", content="def f(a):\n    return a\n", parameters={}
    )

    with pytest.raises(FunctionArgsInvalid) as error:
        services.function_run(function=function, args={"b": 1}, user=admin_user)

    assert "unexpected keyword argument 'b'" in error.value.detail
    assert error.value.status_code == 422


def test_type_errors_inside_the_function_are_its_own(admin_client: APIClient) -> None:
    response = run_source(admin_client, "def f(a: int):\n    return a + 'x'\n", {"a": 1})

    assert response.status_code == 400
    assert response.json()["code"] == "function_error"
    assert "TypeError" in response.json()["detail"]


def test_inside_the_sandbox(admin_client: APIClient) -> None:
    """What the code sees: no capabilities, seccomp on, its own PIDs and host name, read-only
    everything but /tmp, and the rlimits in force."""
    source = """
import os, resource, socket

def f():
    status = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines())
    writes = {}
    for path in ("/x", "/usr/lib/x", "/dev/x", "/tmp/x"):
        try:
            open(path, "w").write("x")
            writes[path] = "written"
        except OSError as exc:
            writes[path] = exc.strerror
    limits = {n: resource.getrlimit(getattr(resource, "RLIMIT_" + n))[0]
              for n in ("NPROC", "AS", "NOFILE", "FSIZE", "CPU", "CORE")}
    return {
        "caps": status["CapEff"].strip(), "bounding": status["CapBnd"].strip(),
        "no_new_privs": status["NoNewPrivs"].strip(), "seccomp": status["Seccomp"].strip(),
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "hostname": socket.gethostname(), "writes": writes, "limits": limits,
    }
"""
    result = run_source(admin_client, source).json()["result"]

    assert result["caps"] == result["bounding"] == "0000000000000000"
    assert result["no_new_privs"] == "1"
    if seccomp.current_arch() is not None:
        assert result["seccomp"] == "2"  # filter mode
    assert max(result["pids"]) <= 3  # bwrap's init, the interpreter: nothing of the host
    assert result["hostname"] == "sandbox"
    assert result["writes"] == {
        "/x": "Read-only file system",
        "/usr/lib/x": "Read-only file system",
        "/dev/x": "Read-only file system",
        "/tmp/x": "written",  # noqa: S108 - the sandbox's own tmpfs
    }
    limits = sandbox.Limits.from_settings()
    assert result["limits"] == {
        "NPROC": limits.processes,
        "AS": limits.memory_bytes,
        "NOFILE": limits.open_files,
        "FSIZE": limits.file_bytes,
        "CPU": limits.cpu_seconds,
        "CORE": 0,
    }


@pytest.mark.skipif(seccomp.current_arch() is not seccomp.X86_64, reason="x86_64's x32 ABI")
def test_calls_through_another_abi_kill_the_process(admin_client: APIClient) -> None:
    source = (
        "import ctypes\ndef f():\n"
        "    return ctypes.CDLL(None).syscall(0x40000000 | 39)  # x32 getpid\n"
    )

    response = run_source(admin_client, source)

    assert response.status_code == 400
    assert response.json()["code"] == "function_resource_limit"
    assert "SIGSYS" in response.json()["detail"]


def test_site_packages_are_hidden(admin_client: APIClient) -> None:
    host = sandbox.availability()
    source = (
        f"import os\ndef f():\n    return [os.listdir(p) for p in {list(host.runtime.hidden)!r}]\n"
    )

    assert run_source(admin_client, source).json()["result"] == [[] for _ in host.runtime.hidden]
