"""keras_rk.studies.progress: progress lines with the estimated time left."""

from keras_rk.studies.progress import StudyClock, duration


def test_duration():
    assert [duration(s) for s in (0.4, 59, 250, 3600)] == ["0 s", "59 s", "4 min 10 s", "1 h 0 min"]


def test_eta_from_the_repetitions_trained_here():
    clock = StudyClock(total=12, start=0.0)
    assert "ETA unknown" in clock.line(done=3, now=1.0)  # only skipped ones so far
    clock.trained(50.0)
    clock.trained(50.0)
    line = clock.line(done=5, now=250.0)
    assert line == "progress 5/12 repetitions, 4 min 10 s elapsed, ETA 5 min 50 s"
    assert clock.line(done=12, now=300.0).endswith("ETA 0 s")
