"""keras_rk.studies.claims: one process per repetition, stale claims taken over."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from keras_rk.studies import claims


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()  # reaped: the pid no longer exists (until the system reuses it)
    return process.pid


def write_claim(folder, name, host, pid, age=0.0):
    path = claims.claims_path(folder) / f"{name}@0"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": host, "pid": pid, "started": time.time() - age}))
    os.utime(path, (time.time() - age, time.time() - age))
    return path


def test_a_live_claim_is_respected(tmp_path):
    write_claim(tmp_path, "run", claims.HOST, os.getpid())
    assert claims.try_claim(tmp_path, "run", timeout=60) is None
    # On another host, only the heartbeat's age counts.
    write_claim(tmp_path, "other", "elsewhere", dead_pid(), age=10)
    assert claims.try_claim(tmp_path, "other", timeout=60) is None


@pytest.mark.parametrize("how", ["dead_pid_on_this_host", "old_heartbeat_elsewhere"])
def test_a_stale_claim_is_taken_over(tmp_path, how):
    if how == "dead_pid_on_this_host":
        write_claim(tmp_path, "run", claims.HOST, pid := dead_pid())
    else:
        write_claim(tmp_path, "run", "elsewhere", pid := 1, age=120)
    claim = claims.try_claim(tmp_path, "run", timeout=60)
    assert claim is not None and claim.took_over["pid"] == pid
    assert claims.read_claim(claim.path)["pid"] == os.getpid()
    assert claim.path.name == "run@1"
    assert not (claim.path.parent / "run@0").exists()  # the stale generation is removed
    claim.release()
    assert not list(claims.claims_path(tmp_path).iterdir())


def test_a_claim_given_up_without_a_record_is_stale_at_once(tmp_path):
    claims.try_claim(tmp_path, "run", timeout=60).release(done=False)
    claim = claims.try_claim(tmp_path, "run", timeout=60)
    assert claim is not None and claim.took_over["pid"] == os.getpid()
    claim.release()


def test_a_late_claimant_of_a_removed_generation_backs_off(tmp_path):
    # A process that looked when there was no claim creates generation 0 after a
    # take-over removed it: generation 1 holds, so it gives its claim up.
    write_claim(tmp_path, "run", "elsewhere", 1, age=120)
    winner = claims.try_claim(tmp_path, "run", timeout=60)
    descriptor = claims._create(claims.claims_path(tmp_path) / "run@0")  # the late creation
    os.close(descriptor)
    assert claims.generations(tmp_path, "run") == [0, 1]
    assert claims.try_claim(tmp_path, "run", timeout=60) is None  # @1 is live
    winner.release()


def test_the_heartbeat_keeps_a_claim_fresh(tmp_path):
    claim = claims.try_claim(tmp_path, "run", timeout=0.5)
    time.sleep(1.0)  # twice the timeout: only the heartbeat keeps it fresh
    assert not claims.is_stale(claim.path, timeout=0.5)
    assert claims.try_claim(tmp_path, "run", timeout=0.5) is None
    claim.release()


@pytest.mark.parametrize("stale", [False, True])
def test_of_many_claimants_exactly_one_wins(tmp_path, stale):
    # Sixteen threads race for a free claim, or for the take-over of a stale one.
    if stale:
        write_claim(tmp_path, "run", "elsewhere", 1, age=120)
    barrier = threading.Barrier(16)
    won = []

    def claimant():
        barrier.wait()
        claim = claims.try_claim(tmp_path, "run", timeout=60)
        if claim is not None:
            won.append(claim)

    threads = [threading.Thread(target=claimant) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    assert claims.read_claim(won[0].path)["pid"] == os.getpid()
    won[0].release()


def test_bad_timeout_names_the_argument(tmp_path):
    with pytest.raises(ValueError, match=r"`timeout`.*Received: timeout=0"):
        claims.try_claim(tmp_path, "run", timeout=0)


def test_report_is_written_once_per_study_run(tmp_path):
    since = time.time()
    with claims.report_turn(tmp_path, ["b", "a"], since) as write:
        assert write
    # A second call in the process that wrote it writes it again.
    with claims.report_turn(tmp_path, ["a", "b"], since) as write:
        assert write
    # Another process of the same run, finishing later: already written.
    done = claims.claims_path(tmp_path) / claims.REPORT_DONE
    done.write_text(json.dumps({**json.loads(done.read_text()), "pid": os.getpid() + 1}))
    with claims.report_turn(tmp_path, ["a", "b"], since) as write:
        assert not write
    # A later rerun, or one with more repetitions, writes it again.
    with claims.report_turn(tmp_path, ["a", "b"], time.time() + 1) as write:
        assert write
    with claims.report_turn(tmp_path, ["a", "b", "c"], since) as write:
        assert write


def test_process_start_time_is_when_the_process_started():
    # A process started now reports a start between just before it was started
    # (the boot time in /proc/stat is whole seconds) and when it answers.
    before = time.time()
    answer = subprocess.run(
        [sys.executable, "-c", "import time; from keras_rk.studies.claims import "
         "process_start_time as p; print(p(), time.time())"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    started, answered = map(float, answer.stdout.split())
    assert before - 1.5 <= started <= answered
