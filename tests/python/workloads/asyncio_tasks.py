# asyncio tasks creating objects.
import asyncio

store = []


async def produce(k):
    await asyncio.sleep(0)
    store.append(["task %d item %d" % (k, i) for i in range(3000)])
    await asyncio.sleep(0)
    store.append({i: -i for i in range(3000)})
    store.append([(k, i) for i in range(2000)])
    await asyncio.sleep(0)
    store.append([bytes(60) for i in range(1500)])
    store.append([[i] for i in range(1500)])


async def main():
    await asyncio.gather(*(produce(k) for k in range(60)))


asyncio.run(main())
print(len(store))
