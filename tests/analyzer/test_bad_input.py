"""Bad input never crashes the analyzer: empty, truncated, bit-flipped,
wrong-magic and future-version snapshots, a missing file and a directory
each get one sentence on stderr naming the file, and exit status 2, for
top, diff and info.  Bad options likewise."""
import os
import struct

from mwsnap import Snapshot, hash64
from mwtest import BIN, Scratch, check, equal, finish, run


def one_line_error(args, what, must_contain=None):
    r = run([BIN] + args)
    equal(r.returncode, 2, "%s: exit status" % what)
    lines = r.stderr.splitlines()
    equal(len(lines), 1, "%s: one line on stderr, got %r" % (what, lines))
    check(bool(lines) and lines[0].startswith("memwatch: "), "%s: starts with memwatch:" % what)
    if must_contain and lines:
        check(must_contain in lines[0], "%s: %r mentions %r" % (what, lines[0], must_contain))
    equal(r.stdout, "", "%s: nothing on stdout" % what)


with Scratch() as d:
    s = Snapshot(meta={"trigger": "exit", "pid": 7, "live_bytes": 300, "live_blocks": 3})
    c = s.code("app.py", "load", firstlineno=10, lnotab=[(2, 1)] * 10)
    for i in range(40):
        s.site(100 + i, 1 + i % 3, [Snapshot.py(c, 2 * (i % 10))])
    good = s.write(os.path.join(d, "good.mws"))
    data = open(good, "rb").read()
    r = run([BIN, "top", good])
    equal(r.returncode, 0, "the good file reads")

    cases = {}

    def case(name, content):
        path = os.path.join(d, name + ".mws")
        with open(path, "wb") as f:
            f.write(content)
        cases[name] = path

    case("empty", b"")
    for cut in (4, 20, 40, len(data) // 2, len(data) - 1):
        case("truncated%d" % cut, data[:cut])
    for pos in (9, 30, 60, len(data) // 2, len(data) - 12, len(data) - 1):
        for bit in (0, 7):
            b = bytearray(data)
            b[pos] ^= 1 << bit
            case("flip%d_%d" % (pos, bit), bytes(b))
    case("magic", b"NOTMEMWT" + data[8:])
    case("text", b"hello, this is not a snapshot at all\n" * 3)
    future = bytearray(data)
    future[8:12] = struct.pack("<I", 99)
    future[-8:] = struct.pack("<Q", hash64(bytes(future[:-8])))
    case("future", bytes(future))
    extra = data + b"\0\0\0"
    case("extra", extra)
    # A valid checksum over a corrupt inside: a count far larger than the file.
    inner = bytearray(data)
    inner[48:49] = b"\xff"
    inner[-8:] = struct.pack("<Q", hash64(bytes(inner[:-8])))
    case("inner", bytes(inner))

    expect = {"empty": "empty", "magic": "not a memwatch snapshot", "future": "newer",
              "truncated4": "truncated", "truncated20": "truncated", "truncated40": "truncated",
              "extra": "extra data"}
    for name, path in sorted(cases.items()):
        for cmd in (["top", path], ["info", path], ["diff", good, path], ["diff", path, good],
                    ["top", "--json", path]):
            one_line_error(cmd, "%s %s" % (cmd[0], name), expect.get(name))
        r = run([BIN, "info", path])
        check(name in r.stderr or path in r.stderr, "%s: the message names the file" % name)
    one_line_error(["top", os.path.join(d, "missing.mws")], "missing file", "No such file")
    one_line_error(["info", d], "a directory", "directory")
    one_line_error(["top"], "no file")
    one_line_error(["top", "--key", "nonsense", good], "bad key", "--key")
    one_line_error(["top", "-n", "many", good], "bad -n", "-n")
    one_line_error(["top", "--bogus", good], "unknown option", "--bogus")
    one_line_error(["diff", good], "diff with one file")
    for cmd in ("top", "diff"):
        one_line_error([cmd, "--bogus", good, good], "%s unknown option" % cmd,
                       "%s: unknown option --bogus" % cmd)
        one_line_error([cmd, good, "-n"], "%s -n without value" % cmd,
                       "%s: option -n needs a value" % cmd)
        one_line_error([cmd, "--key", "traceback", "--cumulative", good, good],
                       "%s traceback key with --cumulative" % cmd,
                       "--cumulative cannot be used with --key traceback")
    one_line_error(["frobnicate"], "unknown command", "frobnicate")
    for cmd in ("run", "top", "diff", "info"):
        r = run([BIN, cmd, "--help"])
        equal(r.returncode, 0, "%s --help" % cmd)
        check(r.stdout.startswith("usage: memwatch %s" % cmd), "%s --help usage line" % cmd)
finish()
