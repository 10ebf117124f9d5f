"""The pytest plugin (python/pytest_memwatch.py), with Debian's python3 and
python3-pytest: under memwatch, a test that leaks more than its limit
fails naming the leaking line; a test whose cache fills once passes; a
global limit applies to unmarked tests; outside memwatch nothing happens."""
import os
import re
import shutil

from mwtest import BIN, SRC, Scratch, check, equal, finish, run, skip, env_with

py = "/usr/bin/python3"
if not os.path.exists(py) or run([py, "-c", "import pytest"]).returncode != 0:
    skip("Debian's python3 with python3-pytest is not installed")

SAMPLE = '''
import pytest
cache = {}
kept = []


@pytest.mark.memwatch_leaks("64 KiB")
def test_cache_fills_once():
    for i in range(2000):
        cache.setdefault(i, "value %d" % i)


@pytest.mark.memwatch_leaks("64 KiB")
def test_leaks():
    kept.append([bytes(100) for _ in range(2000)])  # the leak


def test_unmarked_leak():
    kept.append([bytes(50) for _ in range(3000)])  # another


def test_clean():
    temp = [bytes(100) for _ in range(2000)]
    assert len(temp) == 2000
'''
with Scratch() as d:
    path = os.path.join(d, "test_sample.py")
    with open(path, "w") as f:
        f.write(SAMPLE)
    env = env_with(PYTHONPATH=os.path.join(SRC, "python"))
    base = [py, "-m", "pytest", "-q", "-p", "pytest_memwatch", "-p", "no:cacheprovider", path]
    r = run([BIN, "run", "-q", "-o", d, "--"] + base, env=env, cwd=d)
    equal(r.returncode, 1, "leaks fail the run")
    check(re.search(r"1 failed, 3 passed", r.stdout) is not None, "one failure: %s" % r.stdout[-400:])
    check("test_sample.py::test_leaks" in r.stdout, "the leaking test is named")
    check("test_sample.py:15:" in r.stdout, "with its leaking line")
    r = run([BIN, "run", "-q", "-o", d, "--"] + base + ["--memwatch-max-leak", "32KiB"],
            env=env, cwd=d)
    check(re.search(r"2 failed, 2 passed", r.stdout) is not None,
          "a global limit catches the unmarked leak: %s" % r.stdout[-400:])
    check("test_sample.py:19:" in r.stdout, "its line")
    r = run(base, env=env, cwd=d)
    equal(r.returncode, 0, "outside memwatch the plugin does nothing")
finish()
