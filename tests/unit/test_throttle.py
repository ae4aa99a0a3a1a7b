"""The read cap of the hashing workers, on a fake clock."""

from __future__ import annotations

from mediaforged.fs.hashpool import Throttle


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_reads_are_held_to_the_rate() -> None:
    clock = FakeClock()
    throttle = Throttle(lambda: 1_000_000.0, clock, clock.sleep)
    for _ in range(10):
        throttle(250_000)  # 2.5 MB at 1 MB/s
    assert abs(clock.now - 102.5) < 1e-9


def test_idle_time_is_not_saved_up_for_a_burst() -> None:
    clock = FakeClock()
    throttle = Throttle(lambda: 1_000_000.0, clock, clock.sleep)
    throttle(1_000_000)
    clock.now += 60  # a minute with nothing to hash
    throttle(1_000_000)
    assert clock.slept == [1.0, 1.0]


def test_no_cap_never_sleeps_and_a_new_cap_applies_at_once() -> None:
    clock = FakeClock()
    rate = [0.0]
    throttle = Throttle(lambda: rate[0], clock, clock.sleep)
    throttle(10**9)
    assert clock.slept == []
    rate[0] = 2_000_000.0
    throttle(1_000_000)
    assert clock.slept == [0.5]
