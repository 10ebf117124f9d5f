"""memwatch check and run --check: known-leak programs (C and Python) fail
and name exactly their leaking sites; the same programs fixed pass; limits,
baselines, sizes, formats (JSON and JUnit shapes), filters and
suppressions (removing exactly what they match, and saying how much), and
one sentence with status 2 for every bad input."""
import json
import os
import subprocess
import xml.dom.minidom

from mwtest import BIN, BUILD, SRC, Scratch, check, equal, finish, marker_lines, run, snapshots

here = os.path.join(SRC, "tests/leaks")
leaky, fixed = os.path.join(BUILD, "tests/leaks/leaky"), os.path.join(BUILD, "tests/leaks/leaky_fixed")
lines = marker_lines(os.path.join(here, "leaky.c"))
pylines = marker_lines(os.path.join(here, "leaky.py"), "LINE:")


def exit_snapshot(cmd, out, env=None):
    r = run([BIN, "run", "-q", "-o", out, "--"] + cmd, env=env)
    equal(r.returncode, 0, "%s runs" % os.path.basename(cmd[-1]))
    return snapshots(out)[-1]


def check_json(snap, *args):
    r = run([BIN, "check", "--format", "json", snap] + list(args))
    return r.returncode, (json.loads(r.stdout) if r.stdout.startswith("{") else None), r


def one_sentence(args, what, must=None):
    r = run([BIN] + args)
    equal(r.returncode, 2, "%s: status 2" % what)
    err = r.stderr.splitlines()
    equal(len(err), 1, "%s: one line, got %r" % (what, err))
    if must and err:
        check(must in err[0], "%s: %r says %r" % (what, err[0], must))


with Scratch() as d:
    snap = exit_snapshot([leaky, "200"], os.path.join(d, "a"))
    good = exit_snapshot([fixed, "200"], os.path.join(d, "b"))

    # The leaky program fails and names exactly its two leak sites.
    rc, rep, _ = check_json(snap)
    equal(rc, 1, "leaky fails the default check (--max-leaked 0)")
    lim = rep["limits"][0]
    equal((lim["name"], lim["limit"], lim["value"], lim["passed"]),
          ("max-leaked", 0, 200 * (512 + 64), False), "leaked bytes, exactly")
    equal(sorted((os.path.basename(s["file"]), s["line"], s["count"]) for s in lim["offenders"]),
          sorted([("leaky.c", lines["body"], 200), ("leaky.c", lines["header"], 200)]),
          "offending sites, exactly")
    check(all(s["traceback"] and s["traceback"][-1]["line"] == s["line"] for s in lim["offenders"]),
          "each offender has its traceback")
    rc, rep, _ = check_json(good)
    equal((rc, rep["passed"], rep["limits"][0]["value"]), (0, True, 0), "fixed program passes")
    text = run([BIN, "check", snap])
    check(text.stdout.count("leaky.c:%d: size=100 KiB, count=200, average=512 B" % lines["body"]) == 1,
          "text report in tracemalloc's format")
    check('  File "%s", line %d' % (os.path.join(here, "leaky.c"), lines["body"]) in text.stdout,
          "text report with tracebacks")

    # Limits.
    equal(check_json(snap, "--max-leaked", "200KiB")[0], 0, "under --max-leaked")
    rc, rep, _ = check_json(snap, "--max-site", "64KiB")
    equal([(s["line"], s["size"]) for s in rep["limits"][0]["offenders"]],
          [(lines["body"], 102400)], "--max-site names only the site above")
    equal(check_json(snap, "--max-site", "100KiB")[0], 0, "--max-site at exactly the size passes")

    # Sizes.
    for text_size, value in (("512", 512), ("64KiB", 65536), ("10MB", 10000000),
                             ("1.5GiB", 1610612736), ("2k", 2048), ("3 mb", 3000000)):
        rc, rep, _ = check_json(snap, "--max-leaked", text_size)
        equal(rep["limits"][0]["limit"], value, "size %r" % text_size)
    one_sentence(["check", "--max-leaked", "12parsecs", snap], "unknown size unit", "unit")
    one_sentence(["check", "--max-leaked", "lots", snap], "not a size")

    # A baseline from another run of the same program.
    small = exit_snapshot([leaky, "50"], os.path.join(d, "c"))
    rc, rep, _ = check_json(snap, "--baseline", small, "--max-growth", "50KiB")
    g = rep["limits"][0]
    equal((rc, g["name"], g["value"]), (1, "max-growth", 150 * 576), "growth from the baseline")
    equal(sorted((s["line"], s["size_diff"], s["count_diff"]) for s in g["offenders"]),
          sorted([(lines["body"], 150 * 512, 150), (lines["header"], 150 * 64, 150)]),
          "growing sites")
    equal(check_json(snap, "--baseline", small, "--max-growth", "100KiB")[0], 0, "growth allowed")
    rc, rep, _ = check_json(snap, "--baseline", small, "--max-growth", "50KiB", "--per-site")
    equal([(s["line"], s["size_diff"]) for s in rep["limits"][0]["offenders"]],
          [(lines["body"], 150 * 512)], "--per-site: the one site over")
    # diff matches sites of two runs by file and line, not address.
    d2 = json.loads(run([BIN, "diff", "--json", small, snap]).stdout)
    own = [(s["line"], s["size"], s["size_diff"], s["count"], s["count_diff"])
           for s in d2["stats"] if s["file"].endswith("leaky.c")]
    equal(sorted(own)[:2], sorted([(lines["body"], 200 * 512, 150 * 512, 200, 150),
                                   (lines["header"], 200 * 64, 150 * 64, 200, 150)]),
          "diff of two runs: sites matched, exact differences")
    fn = {s["function"]: s["size"] for s in
          json.loads(run([BIN, "top", "--json", "--key", "function", snap]).stdout)["stats"]}
    equal(fn.get("handle"), 200 * 576, "--key function groups the function's two sites")
    one_sentence(["check", snap, "--baseline", os.path.join(BUILD, "..", "nonexistent.mws"),
                  "--max-growth", "1"], "missing baseline", "No such file")
    other = exit_snapshot([os.path.join(BUILD, "tests/progs/status"), "exit", "0"],
                          os.path.join(d, "e"))
    one_sentence(["check", snap, "--baseline", other, "--max-growth", "1KiB"],
                 "baseline of another program", "same program")

    # Filters and suppressions remove exactly what they match, and say so.
    nodef = "--no-default-suppressions"  # to count only what each filter removes
    rc, rep, _ = check_json(snap, nodef, "--exclude", "*leaky.c:%d" % lines["header"])
    equal(rep["limits"][0]["value"], 200 * 512 + 4096,
          "--exclude FILE:LINE removes that site (stdout's buffer stays)")
    equal((rep["filtered"]["size"], rep["filtered"]["count"], rep["filtered"]["sites"]),
          (200 * 64, 200, 1), "and reports what it removed")
    rc, rep, _ = check_json(snap, "--exclude", "*leaky.c:%d" % lines["header"])
    equal((rep["filtered"]["size"], rep["filtered"]["sites"]), (200 * 64 + 4096, 2),
          "default suppressions count in what was removed (stdout's buffer)")
    rc, rep, _ = check_json(snap, "--include", "*/leaky.c")
    equal(rep["limits"][0]["value"], 200 * 576, "--include keeps the program's file")
    supp = os.path.join(d, "mine.supp")
    with open(supp, "w") as f:
        f.write("# the header leak is known\nleak:^handle$\n\n")
    rc, rep, _ = check_json(snap, nodef, "--suppressions", supp)
    equal((rep["limits"][0]["value"], rep["filtered"]["sites"], rep["filtered"]["size"]),
          (4096, 2, 200 * 576), "a suppression on the function removes both of its sites")
    with open(supp, "w") as f:
        f.write("leak:leaky.c\n")
    equal(check_json(snap, "--suppressions", supp)[1]["limits"][0]["value"], 0,
          "a suppression on the file")
    with open(supp, "w") as f:
        f.write("leak:nothing_like_this\n")
    equal(check_json(snap, nodef, "--suppressions", supp)[1]["filtered"]["sites"], 0,
          "a rule matching nothing removes nothing")
    with open(supp, "w") as f:
        f.write("leak:ok\nthis is garbage\n")
    one_sentence(["check", "--suppressions", supp, snap], "garbage suppression line", "line 2")
    one_sentence(["check", "--suppressions", os.path.join(d, "none.supp"), snap],
                 "missing suppressions file", "none.supp")
    top = json.loads(run([BIN, "top", "--json", "--exclude", "*leaky.c", snap]).stdout)
    check(all(not s["file"].endswith("leaky.c") for s in top["stats"]), "top --exclude")
    equal(top["filtered"]["size"], 200 * 576 + 4096,
          "top reports what --exclude removed (the leaks, and stdout's buffer set up in main)")
    # Without the default suppressions the C library's stdout buffer shows.
    rc, rep, _ = check_json(good, "--no-default-suppressions")
    check(rc == 1 and any(s["size"] == 4096 for s in rep["limits"][0]["offenders"]),
          "--no-default-suppressions shows libc's buffer")

    # JSON and JUnit shapes.
    rc, rep, _ = check_json(snap, "--max-leaked", "1KiB", "--max-site", "1MiB")
    equal(sorted(rep), sorted(["command", "passed", "snapshot", "baseline", "key", "filtered",
                               "limits"]), "JSON keys")
    equal([(l["name"], l["passed"]) for l in rep["limits"]],
          [("max-leaked", False), ("max-site", True)], "JSON limits")
    for s in rep["limits"][0]["offenders"]:
        equal(sorted(s), sorted(["file", "line", "function", "module", "size", "count",
                                 "average", "traceback"]), "JSON offender keys")
    r = run([BIN, "check", "--format", "junit", "--max-leaked", "1KiB", "--max-site", "1MiB", snap])
    equal(r.returncode, 1, "junit: status")
    doc = xml.dom.minidom.parseString(r.stdout)
    cases = doc.getElementsByTagName("testcase")
    equal([c.getAttribute("name") for c in cases], ["max-leaked 1024 B", "max-site 1024 KiB"],
          "junit: a test case per limit")
    equal([len(c.getElementsByTagName("failure")) for c in cases], [2, 0],
          "junit: a failure per offending site")
    suite = doc.getElementsByTagName("testsuite")[0]
    equal((suite.getAttribute("tests"), suite.getAttribute("failures")), ("2", "1"), "junit totals")

    # Python: the leaking version fails naming its line, the fixed one passes.
    py = "/usr/bin/python3"
    pyleak = exit_snapshot([py, os.path.join(here, "leaky.py")], os.path.join(d, "p"))
    rc, rep, _ = check_json(pyleak, "--max-leaked", "2MiB")
    first = rep["limits"][0]["offenders"][0] if rep["limits"][0]["offenders"] else {}
    equal((rc, os.path.basename(first.get("file", "")), first.get("line")),
          (1, "leaky.py", pylines["request"]), "Python leak named")
    env = dict(os.environ, FIXED="1")
    pyok = exit_snapshot([py, os.path.join(here, "leaky.py")], os.path.join(d, "q"), env=env)
    rc, rep, _ = check_json(pyok, "--max-leaked", "2MiB")
    equal(rc, 0, "Python fixed passes (%r)" % (rep["limits"][0]["value"],))

    # run --check in one step; the command's own failure is told apart.
    r = run([BIN, "run", "-q", "-o", os.path.join(d, "r"), "--check", "--max-leaked", "1KiB", "--",
             leaky, "10"])
    equal(r.returncode, 23, "run --check: a leak is status 23")
    check("FAILED" in r.stdout and "leaky.c:%d" % lines["body"] in r.stdout, "run --check report")
    r = run([BIN, "run", "-q", "-o", os.path.join(d, "s"), "--check", "--", fixed, "10"])
    equal((r.returncode, r.stdout.splitlines()[0]), (0, "handled 10"), "run --check: clean")
    r = run([BIN, "run", "-q", "-o", os.path.join(d, "t"), "--check", "--", "sh", "-c", "exit 7"])
    equal(r.returncode, 7, "run --check: the command's own status")
    check("failed with exit status 7" in r.stderr, "run --check: said distinctly")
    report = os.path.join(d, "report.xml")
    r = run([BIN, "run", "-q", "-o", os.path.join(d, "u"), "--check", "--max-leaked", "1KiB",
             "--format", "junit", "--report", report, "--", leaky, "10"])
    equal((r.returncode, r.stdout), (23, "handled 10\n"), "--report keeps stdout the program's")
    equal(len(xml.dom.minidom.parse(report).getElementsByTagName("failure")), 2, "--report file")
    one_sentence(["run", "--check", "--max-leaked", "1KiB", leaky], "run --check without --")
    one_sentence(["run", "--check", "--frobnicate", "--", leaky], "run --check bad option")
finish()
