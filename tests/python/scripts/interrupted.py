"""SIGINT arriving while memwatch's safe-point work runs Python code.

An import hook sends SIGINT to this process whenever a module is imported
after the hook is installed; the script itself imports nothing more.
Under memwatch the safe-point work imports atexit and os: the signal then
arrives in the middle of memwatch's work, and the KeyboardInterrupt must
still reach the program.  Prints whether the hook fired (memwatch's work
may also have run before the hook was installed) and what the program
saw.  Run with -S, so atexit is not already imported by site."""
import os
import signal
import sys
import time


fired = []


class Interrupter:
    def find_spec(self, name, path=None, target=None):
        fired.append(name)
        os.kill(os.getpid(), signal.SIGINT)
        return None


sys.meta_path.insert(0, Interrupter())
try:
    for _ in range(300):  # up to 3 s, running bytecode (and, on 3.12, making garbage)
        junk = [[] for _ in range(100)]
        time.sleep(0.01)
    seen = "no KeyboardInterrupt"
except KeyboardInterrupt:
    seen = "KeyboardInterrupt"
del sys.meta_path[0]
print("fired" if fired else "not fired", seen)
