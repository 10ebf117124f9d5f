"""Safe by default: unwritable output directory (one warning, program
unaffected), mode 0600, no symlink followed, setuid programs record and
write nothing."""
import os
import shutil
import stat

from mwtest import BUILD, LIB, Scratch, check, equal, finish, meta, preload, run, snapshots, \
    env_with

status = os.path.join(BUILD, "tests/progs/status")

with Scratch() as out:
    locked = os.path.join(out, "locked")
    os.mkdir(locked, 0o500)
    env = env_with(LD_PRELOAD=LIB, MEMWATCH_OUTPUT=os.path.join(locked, "x.%p.mws"))
    plain = run([status, "stderr"])
    r = run([status, "stderr"], env=env)
    if os.geteuid() == 0:
        # root writes anywhere: use a path that cannot exist instead
        env["MEMWATCH_OUTPUT"] = "/proc/memwatch-cannot-write/x.%p.mws"
        r = run([status, "stderr"], env=env)
    equal((r.returncode, r.stdout), (plain.returncode, plain.stdout), "program unaffected")
    warn = [l for l in r.stderr.splitlines() if l.startswith("memwatch: ")]
    equal(len(warn), 1, "exactly one warning line: %r" % warn)
    check(warn and "cannot write snapshot" in warn[0], "the warning says why")
    equal([l for l in r.stderr.splitlines() if not l.startswith("memwatch: ")], ["to stderr"],
          "the program's stderr intact")

with Scratch() as out:
    r = preload([status, "exit", "0"], out)
    snap = snapshots(out)[0]
    equal(stat.S_IMODE(os.stat(snap).st_mode), 0o600, "snapshot mode")

with Scratch() as out:
    target = os.path.join(out, "victim")
    with open(target, "w") as f:
        f.write("precious\n")
    r = run([status, "exit", "0"], env=env_with(LD_PRELOAD=LIB,
                                                MEMWATCH_OUTPUT=os.path.join(out, "snap.mws")))
    # Plant a symlink where the next run will write.
    os.rename(os.path.join(out, "snap.mws"), os.path.join(out, "first.mws"))
    os.symlink(target, os.path.join(out, "snap.mws"))
    r = run([status, "exit", "0"], env=env_with(LD_PRELOAD=LIB,
                                                MEMWATCH_OUTPUT=os.path.join(out, "snap.mws")))
    equal(open(target).read(), "precious\n", "symlink target untouched")
    check(os.path.islink(os.path.join(out, "snap.mws")), "symlink left alone")
    check(os.path.exists(os.path.join(out, "snap-1.mws")), "snapshot written under another name")
    equal(meta(os.path.join(out, "snap-1.mws"))["trigger"], "exit", "that file is a snapshot")

secure = os.path.join(BUILD, "tests/progs/secure")
if os.geteuid() != 0:
    print("skipping setuid check: needs root to make a setuid program")
else:
    with Scratch() as out:
        os.chmod(out, 0o777)
        prog = os.path.join(out, "secure")
        shutil.copy(secure, prog)
        os.chown(prog, 65534, 65534)
        os.chmod(prog, 0o4755)
        os.chmod(os.path.dirname(out), os.stat(os.path.dirname(out)).st_mode | 0o011)
        env = env_with(MEMWATCH_OUTPUT=os.path.join(out, "s.%p.mws"), MEMWATCH_VERBOSE="1")
        r = run([prog], env=env)
        equal(r.returncode, 0, "setuid program runs")
        check(r.stdout.startswith("euid=65534 uid=0"), "it ran setuid: %r" % r.stdout)
        equal([n for n in os.listdir(out) if n.endswith(".mws")], [], "nothing written")
        # The same program, not setuid, does record (so the check above means something).
        os.chmod(prog, 0o755)
        r = run([prog], env=env)
        equal(len([n for n in os.listdir(out) if n.endswith(".mws")]), 1,
              "not setuid: a snapshot is written")
finish()
