import json
import os
import subprocess
import sys
import textwrap

import pytest

from keras_rk import allocator

OPT_OUTS = ("KERAS_RK_HUGE_PAGES", "KERAS_RK_KEEP_MEMORY")
# A process whose large buffers can be put on huge pages by the restart.
CAN_ASK_FOR_HUGE_PAGES = allocator.HUGE_PAGES in allocator.helpful_groups(
    {}, allocator.read_thp_mode(), allocator._glibc_version(), "jax"
)
JAX = {"KERAS_BACKEND": "jax"}
ALL_TUNABLES = "glibc.malloc.hugetlb=1:" + ":".join(
    f"{name}={value}" for name, value in allocator.KEEP_MEMORY.items()
)


@pytest.fixture(autouse=True)
def no_opt_out(monkeypatch):
    for name in OPT_OUTS:
        monkeypatch.delenv(name, raising=False)


def clean_environment(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", *OPT_OUTS)}
    return {**env, "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


@pytest.mark.parametrize(
    "text, mode",
    [("always [madvise] never", "madvise"), ("[always] madvise never", "always"),
     ("always madvise [never]\n", "never"), ("", None), ("madvise", None)],
)  # fmt: skip
def test_thp_mode_is_the_bracketed_word(text, mode):
    assert allocator.thp_mode(text) == mode


def test_read_thp_mode_without_the_file_is_none(tmp_path):
    assert allocator.read_thp_mode(str(tmp_path / "missing")) is None
    (tmp_path / "enabled").write_text("always [madvise] never\n")
    assert allocator.read_thp_mode(str(tmp_path / "enabled")) == "madvise"


def test_a_group_is_added_to_the_users_tunables_and_never_overrides_them():
    huge = allocator.HUGE_PAGES
    assert allocator.tunables_with(None, huge) == "glibc.malloc.hugetlb=1"
    assert allocator.tunables_with("", huge) == "glibc.malloc.hugetlb=1"
    assert allocator.tunables_with("a=1:b=2", huge) == "a=1:b=2:glibc.malloc.hugetlb=1"
    assert allocator.tunables_with("a=1:glibc.malloc.hugetlb=2", huge) is None
    keep = allocator.KEEP_MEMORY
    assert allocator.tunables_with("glibc.malloc.hugetlb=1", keep) == ALL_TUNABLES
    # One tunable of the group set by the user: the group is theirs, none is added.
    assert allocator.tunables_with("glibc.malloc.arena_max=4", keep) is None


def test_each_group_helps_where_its_glibc_and_thp_mode_allow_and_has_an_opt_out():
    groups = lambda environ, thp, glibc: allocator.helpful_groups(environ, thp, glibc, "jax")
    both = [allocator.HUGE_PAGES, allocator.KEEP_MEMORY]
    assert groups({}, "madvise", (2, 36)) == both
    assert groups({}, "always", (2, 36)) == [allocator.KEEP_MEMORY]  # huge pages unasked
    assert groups({}, "never", (2, 36)) == [allocator.KEEP_MEMORY]
    assert groups({}, "madvise", (2, 34)) == [allocator.KEEP_MEMORY]  # before hugetlb
    assert groups({}, "madvise", (2, 25)) == []  # before tunables
    assert groups({}, "madvise", None) == []  # not glibc
    assert groups({"KERAS_RK_HUGE_PAGES": "0"}, "madvise", (2, 36)) == [allocator.KEEP_MEMORY]
    assert groups({"KERAS_RK_KEEP_MEMORY": "0"}, "madvise", (2, 36)) == [allocator.HUGE_PAGES]
    # TensorFlow's allocator keeps its buffers itself; PyTorch's does not.
    assert allocator.helpful_groups({}, "madvise", (2, 36), "tensorflow") == [allocator.HUGE_PAGES]
    assert allocator.helpful_groups({}, "madvise", (2, 36), "torch") == both


def test_the_backend_is_read_as_keras_reads_it(tmp_path):
    configured = allocator.configured_backend
    home = {"KERAS_HOME": str(tmp_path), "HOME": str(tmp_path / "nobody")}
    assert configured(home) == "tensorflow"  # no keras.json: Keras's default
    (tmp_path / "keras.json").write_text('{"backend": "torch", "floatx": "float32"}')
    assert configured(home) == "torch"
    assert configured({**home, "KERAS_BACKEND": "jax"}) == "jax"  # the variable first
    for broken in ("{not json", '["jax"]', '{"backend": 3}'):
        (tmp_path / "keras.json").write_text(broken)
        assert configured(home) == "tensorflow"
    (tmp_path / "user" / ".keras").mkdir(parents=True)  # without KERAS_HOME: ~/.keras
    (tmp_path / "user" / ".keras" / "keras.json").write_text('{"backend": "jax"}')
    assert configured({"HOME": str(tmp_path / "user")}) == "jax"


@pytest.mark.parametrize(
    "environ, thp, glibc",
    [
        (JAX, "madvise", (2, 25)),  # glibc before tunables
        (JAX, "madvise", None),  # not glibc (musl, macOS)
        ({**JAX, "KERAS_RK_HUGE_PAGES": "0", "KERAS_RK_KEEP_MEMORY": "0"}, "madvise", (2, 36)),
        ({**JAX, "GLIBC_TUNABLES": ALL_TUNABLES}, "madvise", (2, 36)),  # restarted already
        ({**JAX, "GLIBC_TUNABLES": "glibc.malloc.mmap_max=9"}, "always", (2, 36)),  # the user's
        ({"KERAS_BACKEND": "tensorflow"}, "always", (2, 36)),  # TensorFlow keeps its own
    ],
)
def test_no_restart_where_it_cannot_help(environ, thp, glibc):
    assert allocator.restart_environment(environ, thp=thp, glibc=glibc) is None


def test_the_restart_keeps_the_environment():
    environment = allocator.restart_environment(
        {**JAX, "PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.arena_max=2"},
        thp="madvise",
        glibc=(2, 35),
    )
    assert environment == {
        **JAX,
        "PATH": "/bin",
        "GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1",
    }
    # A process started with huge pages only (as before keras_rk kept memory) gains the rest.
    environment = allocator.restart_environment(
        {**JAX, "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}, thp="madvise", glibc=(2, 36)
    )
    assert environment == {**JAX, "GLIBC_TUNABLES": ALL_TUNABLES}


RESTART_SCRIPT = textwrap.dedent(
    """
    import ctypes, os, resource, sys, threading
    print("start", sys.argv[1:], flush=True)
    from keras_rk.allocator import tune_allocator
    tune_allocator()
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    size = 64 * 2**20  # malloc's, as XLA's buffers (numpy asks for huge pages itself)
    faults = []

    def use_a_buffer(smaps=False):  # as a training step: allocate, write, free
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        buffer = libc.malloc(ctypes.c_size_t(size))
        ctypes.memset(buffer, 1, size)
        if smaps:
            with open("/proc/self/smaps_rollup") as rollup:
                huge = [int(line.split()[1]) for line in rollup if line.startswith("AnonHuge")]
            print("huge_kib", huge[0], flush=True)
        libc.free(buffer)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)

    use_a_buffer(smaps=True)
    worker = threading.Thread(target=lambda: [use_a_buffer() for _ in range(3)])
    worker.start()
    worker.join()  # XLA allocates on its own threads
    print("tunables", os.environ.get("GLIBC_TUNABLES"), flush=True)
    print("faults", *faults, flush=True)
    """
)


def run_restart_script(tmp_path, **extra_environment):
    """The restart script's lines: start (once or twice), huge_kib, tunables, faults."""
    script = tmp_path / "train.py"
    script.write_text(RESTART_SCRIPT)
    command = [sys.executable, str(script), "--epochs", "3"]
    environment = clean_environment(KERAS_BACKEND="jax", **extra_environment)
    out = subprocess.run(command, capture_output=True, text=True, env=environment)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.splitlines()


@pytest.mark.skipif(not CAN_ASK_FOR_HUGE_PAGES,
                    reason="needs Linux, glibc >= 2.35 and THP in madvise mode")  # fmt: skip
def test_a_script_restarts_once_with_its_arguments_gets_huge_pages_and_keeps_memory(tmp_path):
    lines = run_restart_script(tmp_path)
    assert lines[:2] == ["start ['--epochs', '3']"] * 2  # ran again, same arguments
    assert int(lines[2].split()[1]) >= 32 * 1024  # most of the 64 MiB buffer on 2 MiB pages
    assert lines[3] == f"tunables {ALL_TUNABLES}"
    faults = [int(word) for word in lines[4].split()[1:]]
    assert faults[0] >= 16  # the first use faults its pages in
    assert max(faults[2:]) <= 4  # later uses, on another thread too, find them kept

    lines = run_restart_script(tmp_path, KERAS_RK_HUGE_PAGES="0", KERAS_RK_KEEP_MEMORY="0")
    assert lines[:3] == ["start ['--epochs', '3']", "huge_kib 0", "tunables None"]
    faults = [int(word) for word in lines[3].split()[1:]]
    assert min(faults) >= 16 * 1024 // 4  # every use faults 4 KiB pages again (64 MiB: 16 Ki)


def test_keeping_memory_alone_needs_no_huge_pages(tmp_path):
    glibc = allocator._glibc_version()
    if allocator.KEEP_MEMORY not in allocator.helpful_groups({}, "never", glibc, "jax"):
        pytest.skip("needs glibc >= 2.26")
    lines = run_restart_script(tmp_path, KERAS_RK_HUGE_PAGES="0")
    assert lines[:2] == ["start ['--epochs', '3']"] * 2
    assert lines[3] == "tunables " + ALL_TUNABLES.removeprefix("glibc.malloc.hugetlb=1:")
    faults = [int(word) for word in lines[4].split()[1:]]
    # The first use faults (on 4 KiB pages, or 2 MiB ones where THP is "always").
    assert faults[0] >= 16 and max(faults[2:]) <= 4


@pytest.mark.skipif(not CAN_ASK_FOR_HUGE_PAGES,
                    reason="needs Linux, glibc >= 2.35 and THP in madvise mode")  # fmt: skip
def test_keras_rk_run_trains_with_the_tuned_allocator_and_its_records_say_so(tmp_path):
    command = [sys.executable, "-m", "keras_rk.cli", "run", "depth", "--quick", "--seeds", "1",
               "--epochs", "1", "--depths", "1", "--architectures", "rk4", "--no-figures",
               "--out", str(tmp_path)]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, env=clean_environment())
    assert out.returncode == 0, out.stderr[-2000:]
    record = json.loads(next((tmp_path / "runs").glob("*.json")).read_text())
    keeps = "keeps" if record["environment"]["backend"] in ("jax", "torch") else "returns"
    assert record["environment"]["allocator"] == (
        f"THP madvise; malloc asks for huge pages, {keeps} freed memory"
    )


def test_status_says_what_this_process_has(monkeypatch):
    monkeypatch.setenv("GLIBC_TUNABLES", ALL_TUNABLES)
    assert allocator.status().endswith("malloc asks for huge pages, keeps freed memory")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1:glibc.malloc.mmap_max=0")
    assert allocator.status().endswith("malloc asks for huge pages, returns freed memory")
    monkeypatch.delenv("GLIBC_TUNABLES")
    assert allocator.status().endswith("malloc does not ask for huge pages, returns freed memory")


def test_interactive_sessions_are_never_restarted(monkeypatch):
    def refuse(*args):
        raise AssertionError("restarted")

    monkeypatch.setattr(os, "execve", refuse)
    # A restart that would help on any machine, so only the guard can stop it.
    monkeypatch.setattr(allocator, "restart_environment", lambda: {"GLIBC_TUNABLES": "x"})
    monkeypatch.setattr(sys, "ps1", ">>> ", raising=False)
    allocator.tune_allocator()  # returns: a restart would lose the session
    monkeypatch.delattr(sys, "ps1")
    with pytest.raises(AssertionError, match="restarted"):  # and without the guard it would
        allocator.tune_allocator()


def test_a_process_is_restarted_at_most_once(monkeypatch):
    started_with = []
    monkeypatch.setattr(
        os, "execve", lambda path, argv, environment: started_with.append(environment)
    )
    # A restart that would help on any machine, as if the tunables had been dropped.
    monkeypatch.setattr(allocator, "restart_environment", lambda: {"GLIBC_TUNABLES": "x"})
    monkeypatch.delenv(allocator.RESTARTED_MARKER, raising=False)
    allocator.tune_allocator()
    assert started_with == [{"GLIBC_TUNABLES": "x", allocator.RESTARTED_MARKER: str(os.getpid())}]
    monkeypatch.setenv(allocator.RESTARTED_MARKER, str(os.getpid()))  # this process, restarted
    allocator.tune_allocator()
    assert len(started_with) == 1
    monkeypatch.setenv(allocator.RESTARTED_MARKER, str(os.getpid() + 1))  # inherited by a child
    allocator.tune_allocator()
    assert len(started_with) == 2


def test_a_failed_restart_goes_on_with_mallocs_defaults(monkeypatch):
    def fail(*args):
        raise PermissionError("exec refused")

    monkeypatch.setattr(os, "execve", fail)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    monkeypatch.setattr(allocator, "restart_environment", lambda: {"GLIBC_TUNABLES": "x"})
    allocator.tune_allocator()  # returns instead of raising


def test_the_restart_passes_the_environment_keras_rk_was_imported_in(monkeypatch):
    # Importing Keras sets TF_CPP_MIN_LOG_LEVEL (2, or 1 on JAX); the restarted
    # process would take that for the user's choice and print TensorFlow's log.
    monkeypatch.setattr(allocator, "_ENVIRONMENT_AT_IMPORT", {**JAX, "PATH": "/bin"})
    monkeypatch.setenv("KERAS_RK_SET_AFTER_IMPORT", "1")
    environment = allocator.restart_environment(thp="madvise", glibc=(2, 36))
    assert environment == {**JAX, "PATH": "/bin", "GLIBC_TUNABLES": ALL_TUNABLES}
    monkeypatch.setenv("KERAS_RK_HUGE_PAGES", "0")  # but a later opt-out counts,
    monkeypatch.setenv("KERAS_RK_KEEP_MEMORY", "0")
    assert allocator.restart_environment(thp="madvise", glibc=(2, 36)) is None
    monkeypatch.setenv("KERAS_RK_KEEP_MEMORY", "1")  # and reaches the restarted process
    environment = allocator.restart_environment(thp="madvise", glibc=(2, 36))
    assert environment["KERAS_RK_HUGE_PAGES"] == "0"
    assert "hugetlb" not in environment["GLIBC_TUNABLES"]
