"""memwatch's pytest plugin: fail tests that leak memory.

Enable it when the test run is profiled by memwatch:

    memwatch run -- python -m pytest -p pytest_memwatch --memwatch-max-leak "1 MiB" tests/

(with this file's directory on PYTHONPATH; `memwatch run` finds it for you
when it is installed next to libmemwatch.so).  Outside memwatch the plugin
does nothing.

For each test with a limit, the plugin runs the test body --memwatch-warmup
times (default 1) so caches fill, takes a memwatch snapshot, runs the body
once more (the real call, whose result pytest reports), takes another
snapshot, and checks the growth between the two with `memwatch check
--baseline ... --max-growth LIMIT` (default suppressions apply).  A test
growing by more than its limit fails, with the lines that grew.

Limits: per test with @pytest.mark.memwatch_leaks("1 MiB"), or for every
test with --memwatch-max-leak SIZE; the marker wins.  Sizes as memwatch
takes them: 512, 64KiB, 10MB, 1.5GiB.
"""
import gc
import json
import os
import shutil
import subprocess
import tempfile

import pytest

try:
    import memwatch
except ImportError:  # not running under memwatch: the plugin stays idle
    memwatch = None


def pytest_addoption(parser):
    group = parser.getgroup("memwatch", "memory leak checks (memwatch)")
    group.addoption("--memwatch-max-leak", metavar="SIZE", default=None,
                    help="fail every test whose memory grows by more than SIZE")
    group.addoption("--memwatch-warmup", metavar="N", type=int, default=1,
                    help="run each checked test body N extra times first (default 1)")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "memwatch_leaks(size): fail the test if it leaks more than size")
    config._memwatch_dir = None


def pytest_unconfigure(config):
    if getattr(config, "_memwatch_dir", None):
        shutil.rmtree(config._memwatch_dir, ignore_errors=True)


def _limit(item):
    marker = item.get_closest_marker("memwatch_leaks")
    if marker and marker.args:
        return str(marker.args[0])
    return item.config.getoption("--memwatch-max-leak")


def _memwatch_bin():
    found = os.environ.get("MEMWATCH_BIN") or shutil.which("memwatch")
    if not found:
        raise pytest.UsageError("pytest_memwatch: set MEMWATCH_BIN to the memwatch command")
    return found


def _snapshot(config, name):
    if not config._memwatch_dir:
        config._memwatch_dir = tempfile.mkdtemp(prefix="pytest-memwatch-")
    gc.collect()
    return memwatch.snapshot(os.path.join(config._memwatch_dir, name))


def _check(item, limit, base, after):
    # The plugin's own few allocations between the snapshots are not the test's.
    r = subprocess.run([_memwatch_bin(), "check", after, "--baseline", base, "--max-growth",
                        limit, "--format", "json", "-n", "5",
                        "--exclude", "*" + os.path.basename(__file__)],
                       capture_output=True, text=True)
    if r.returncode == 2:
        raise pytest.UsageError("pytest_memwatch: " + r.stderr.strip())
    if r.returncode == 1:
        grew = json.loads(r.stdout)["limits"][0]
        lines = ["%s:%s: %+d B in %+d blocks" % (s["file"], s["line"], s["size_diff"],
                                                   s["count_diff"])
                 for s in grew["offenders"]]
        pytest.fail("memwatch: the test leaked %d B (limit %s):\n  %s"
                    % (grew["value"], limit, "\n  ".join(lines)), pytrace=False)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    limit = _limit(item)
    if memwatch is None or not limit or not memwatch.is_tracing():
        return
    body = item.runtest

    def checked():
        for _ in range(max(0, item.config.getoption("--memwatch-warmup"))):
            body()
        base = _snapshot(item.config, "%x.before.mws" % id(item))
        body()
        after = _snapshot(item.config, "%x.after.mws" % id(item))
        _check(item, limit, base, after)

    item.runtest = checked
