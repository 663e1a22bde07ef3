"""edge.procstats measured against real allocations, real CPU work and real files."""
from __future__ import annotations

import contextlib
import sys
import threading
import time

import numpy as np
import pytest

from edge.procstats import ProcessStats

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self")
KEYS = {"rss_mb", "cpu_pct", "threads", "open_fds", "uptime_s"}


class TestSample:
    def test_keys_and_types(self):
        """A sample has the five figures, with sane types and values."""
        stats = ProcessStats()
        time.sleep(0.01)
        s = stats.sample()
        assert set(s) == KEYS
        assert s["rss_mb"] > 1.0 and s["threads"] >= 1 and s["uptime_s"] > 0
        assert s["cpu_pct"] >= 0.0

    def test_uptime_grows(self):
        """uptime_s counts from the ProcessStats' creation."""
        stats = ProcessStats()
        first = stats.sample()["uptime_s"]
        time.sleep(0.05)
        assert stats.sample()["uptime_s"] >= first + 0.05


class TestMemory:
    @linux_only
    def test_rss_follows_a_100_mb_array(self):
        """Touching a 100 MiB array raises rss_mb by about 100; freeing it brings it back down."""
        stats = ProcessStats()
        before = stats.sample()["rss_mb"]
        block = np.ones(100 * 2**20 // 8)             # np.ones writes every page, so they are resident
        grown = stats.sample()["rss_mb"]
        assert 90.0 <= grown - before <= 115.0
        del block                                     # numpy's large buffers are mmap'ed: munmap returns them
        assert stats.sample()["rss_mb"] - before < 15.0


class TestCpu:
    def test_busy_loop_shows_high_cpu(self):
        """0.3 s of busy looping reads as the CPU share the process really got (its own CPU clock over
        the wall clock: close to 100 % on an idle machine, less when other work shares the cores)."""
        stats = ProcessStats()
        stats.sample()
        c0, w0 = time.process_time(), time.monotonic()
        while time.monotonic() < w0 + 0.3:
            pass
        c1, w1 = time.process_time(), time.monotonic()
        got = stats.sample()["cpu_pct"]
        expected = 100.0 * (c1 - c0) / (w1 - w0)
        assert expected > 20.0                # the loop ran
        assert got == pytest.approx(expected, abs=15.0)

    def test_sleep_shows_low_cpu(self):
        """0.3 s asleep reads as little CPU (the figure is per interval, not cumulative)."""
        stats = ProcessStats()
        end = time.monotonic() + 0.2
        while time.monotonic() < end:
            pass
        stats.sample()
        time.sleep(0.3)
        assert stats.sample()["cpu_pct"] < 20.0


class TestThreadsAndFiles:
    def test_threads_counted(self):
        """Started threads are counted while they run."""
        stats = ProcessStats()
        before = stats.sample()["threads"]
        stop = threading.Event()
        workers = [threading.Thread(target=stop.wait) for _ in range(3)]
        for w in workers:
            w.start()
        try:
            assert stats.sample()["threads"] == before + 3
        finally:
            stop.set()
            for w in workers:
                w.join()

    @linux_only
    def test_open_fds_follow_open_files(self, tmp_path):
        """Opening ten files adds exactly ten descriptors; closing them removes them."""
        stats = ProcessStats()
        before = stats.sample()["open_fds"]
        with contextlib.ExitStack() as files:
            for k in range(10):
                files.enter_context(open(tmp_path / f"f{k}", "w"))
            assert stats.sample()["open_fds"] == before + 10
        assert stats.sample()["open_fds"] == before


class TestFallbacks:
    def test_without_proc(self, tmp_path):
        """Without /proc files the figures fall back (peak RSS, Python's threads, no fd count)."""
        stats = ProcessStats(proc_self=tmp_path / "no-such-dir")
        s = stats.sample()
        assert set(s) == KEYS
        assert s["open_fds"] is None
        assert s["threads"] == threading.active_count()
        if sys.platform != "win32":
            assert s["rss_mb"] > 1.0

    def test_garbled_status_does_not_raise(self, tmp_path):
        """A status file with garbage in it is survived, with the fallbacks."""
        (tmp_path / "status").write_bytes(b"VmRSS:\tlots kB\nThreads:\n\xff\xfe\n")
        s = ProcessStats(proc_self=tmp_path).sample()
        assert s["threads"] == threading.active_count() and s["open_fds"] is None
        if sys.platform != "win32":
            assert s["rss_mb"] > 1.0
