# bytearray growth and bytes objects.
buf = bytearray()
for i in range(400000):
    buf += b"0123456789abcdef"
blocks = [bytearray(1000) for _ in range(8000)]
frozen = [bytes(700) for _ in range(5000)]
small = [bytes([i % 256]) * 40 for i in range(70000)]
halves = [memoryview(b).tobytes() for b in blocks[:4000]]
print(len(buf), len(blocks), len(frozen), len(small), len(halves))
