import json
import os
import subprocess
import sys
import textwrap

import pytest

from keras_rk import huge_pages

# A process whose large buffers can be put on huge pages by the restart.
CAN_RESTART = huge_pages.restart_environment({}) is not None


@pytest.fixture(autouse=True)
def no_opt_out(monkeypatch):
    monkeypatch.delenv("KERAS_RK_HUGE_PAGES", raising=False)


def clean_environment(**extra):
    env = {
        k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "KERAS_RK_HUGE_PAGES")
    }
    return {**env, "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


@pytest.mark.parametrize(
    "text, mode",
    [("always [madvise] never", "madvise"), ("[always] madvise never", "always"),
     ("always madvise [never]\n", "never"), ("", None), ("madvise", None)],
)  # fmt: skip
def test_thp_mode_is_the_bracketed_word(text, mode):
    assert huge_pages.thp_mode(text) == mode


def test_read_thp_mode_without_the_file_is_none(tmp_path):
    assert huge_pages.read_thp_mode(str(tmp_path / "missing")) is None
    (tmp_path / "enabled").write_text("always [madvise] never\n")
    assert huge_pages.read_thp_mode(str(tmp_path / "enabled")) == "madvise"


def test_the_tunable_is_added_to_the_users_and_never_overrides_it():
    assert huge_pages.tunables_with_huge_pages(None) == "glibc.malloc.hugetlb=1"
    assert huge_pages.tunables_with_huge_pages("") == "glibc.malloc.hugetlb=1"
    assert huge_pages.tunables_with_huge_pages("a=1:b=2") == "a=1:b=2:glibc.malloc.hugetlb=1"
    assert huge_pages.tunables_with_huge_pages("a=1:glibc.malloc.hugetlb=2") is None


@pytest.mark.parametrize(
    "environ, thp, glibc",
    [
        ({}, "always", (2, 36)),  # huge pages without asking
        ({}, "never", (2, 36)),  # cannot be asked for
        ({}, None, (2, 36)),  # no THP (not Linux)
        ({}, "madvise", (2, 34)),  # glibc before the tunable
        ({}, "madvise", None),  # not glibc (musl, macOS)
        ({"KERAS_RK_HUGE_PAGES": "0"}, "madvise", (2, 36)),  # turned off
        ({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}, "madvise", (2, 36)),  # restarted already
    ],
)
def test_no_restart_where_it_cannot_help(environ, thp, glibc):
    assert huge_pages.restart_environment(environ, thp=thp, glibc=glibc) is None


def test_the_restart_keeps_the_environment():
    environment = huge_pages.restart_environment(
        {"PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.arena_max=2"},
        thp="madvise",
        glibc=(2, 35),
    )
    assert environment == {
        "PATH": "/bin",
        "GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1",
    }


RESTART_SCRIPT = textwrap.dedent(
    """
    import os, sys
    print("start", sys.argv[1:], flush=True)
    from keras_rk.huge_pages import use_huge_pages
    use_huge_pages()
    import ctypes
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    size = 64 * 2**20  # malloc's, as XLA's buffers (numpy asks for huge pages itself)
    buffer = libc.malloc(ctypes.c_size_t(size))
    ctypes.memset(buffer, 1, size)
    with open("/proc/self/smaps_rollup") as smaps:
        huge = next(int(line.split()[1]) for line in smaps if line.startswith("AnonHugePages"))
    print("tunables", os.environ.get("GLIBC_TUNABLES"), "huge_kib", huge, flush=True)
    """
)


@pytest.mark.skipif(not CAN_RESTART, reason="needs Linux, glibc >= 2.35 and THP in madvise mode")
def test_a_script_restarts_once_with_its_arguments_and_gets_huge_pages(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(RESTART_SCRIPT)
    command = [sys.executable, str(script), "--epochs", "3"]
    out = subprocess.run(command, capture_output=True, text=True, env=clean_environment())
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[:2] == ["start ['--epochs', '3']"] * 2  # ran again, same arguments
    words = lines[2].split()
    assert words[:2] == ["tunables", "glibc.malloc.hugetlb=1"]
    assert int(words[3]) >= 32 * 1024  # most of the 64 MiB buffer on 2 MiB pages

    kept = subprocess.run(command, capture_output=True, text=True,
                          env=clean_environment(KERAS_RK_HUGE_PAGES="0"))  # fmt: skip
    assert kept.returncode == 0, kept.stderr[-2000:]
    assert kept.stdout.splitlines()[:2] == ["start ['--epochs', '3']", "tunables None huge_kib 0"]


@pytest.mark.skipif(not CAN_RESTART, reason="needs Linux, glibc >= 2.35 and THP in madvise mode")
def test_keras_rk_run_trains_on_huge_pages_and_its_records_say_so(tmp_path):
    command = [sys.executable, "-m", "keras_rk.cli", "run", "depth", "--quick", "--seeds", "1",
               "--epochs", "1", "--depths", "1", "--architectures", "rk4", "--no-figures",
               "--out", str(tmp_path)]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, env=clean_environment())
    assert out.returncode == 0, out.stderr[-2000:]
    record = json.loads(next((tmp_path / "runs").glob("*.json")).read_text())
    assert record["environment"]["huge_pages"] == "THP madvise; malloc asks"


def test_interactive_sessions_are_never_restarted(monkeypatch):
    def refuse(*args):
        raise AssertionError("restarted")

    monkeypatch.setattr(os, "execve", refuse)
    # A restart that would help on any machine, so only the guard can stop it.
    monkeypatch.setattr(huge_pages, "restart_environment", lambda: {"GLIBC_TUNABLES": "x"})
    monkeypatch.setattr(sys, "ps1", ">>> ", raising=False)
    huge_pages.use_huge_pages()  # returns: a restart would lose the session
    monkeypatch.delattr(sys, "ps1")
    with pytest.raises(AssertionError, match="restarted"):  # and without the guard it would
        huge_pages.use_huge_pages()


def test_a_failed_restart_goes_on_without_huge_pages(monkeypatch):
    def fail(*args):
        raise PermissionError("exec refused")

    monkeypatch.setattr(os, "execve", fail)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    monkeypatch.setattr(huge_pages, "restart_environment", lambda: {"GLIBC_TUNABLES": "x"})
    huge_pages.use_huge_pages()  # returns instead of raising


def test_the_restart_passes_the_environment_keras_rk_was_imported_in(monkeypatch):
    # Importing Keras sets TF_CPP_MIN_LOG_LEVEL (2, or 1 on JAX); the restarted
    # process would take that for the user's choice and print TensorFlow's log.
    monkeypatch.setattr(huge_pages, "_ENVIRONMENT_AT_IMPORT", {"PATH": "/bin"})
    monkeypatch.setenv("KERAS_RK_SET_AFTER_IMPORT", "1")
    environment = huge_pages.restart_environment(thp="madvise", glibc=(2, 36))
    assert environment == {"PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    monkeypatch.setenv("KERAS_RK_HUGE_PAGES", "0")  # but a later opt-out counts
    assert huge_pages.restart_environment(thp="madvise", glibc=(2, 36)) is None
