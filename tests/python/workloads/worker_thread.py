# A worker thread allocates; its lines are attributed to it.
import threading

results = []


def worker(n):
    local = ["thread item %d" % i for i in range(n)]
    results.append(local)
    results.append([{"n": i} for i in range(n // 3)])
    results.append([(i, i) for i in range(n // 2)])


t = threading.Thread(target=worker, args=(120000,))
t.start()
t.join()
main_side = ["main item %d" % i for i in range(90000)]
main_lists = [[i, i] for i in range(60000)]
print(len(results), len(main_side), len(main_lists))
