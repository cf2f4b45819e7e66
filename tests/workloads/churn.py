# An interpreter at work for the real-program tests: imports (shared objects mapped),
# threads, and large objects that the allocator maps and unmaps.
import mmap
import sys
import threading
import time

import json, decimal, hashlib, sqlite3, ssl, zlib  # noqa: E401,F401  (extension modules)

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5
end = time.monotonic() + seconds


def work(n):
    keep = []
    i = 0
    while time.monotonic() < end:
        keep.append(bytearray((i % 7 + 1) * 300_000))
        if len(keep) > 5:
            keep.clear()
        i += 1
        time.sleep(0.001)


# Thousands of VMAs: neighbouring mappings with different protections do not merge.
regions = [mmap.mmap(-1, 4096 * (1 + i % 3), prot=mmap.PROT_READ | (mmap.PROT_WRITE if i % 2 else 0))
           for i in range(1500)]

threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
for t in threads:
    t.start()
print("running", flush=True)
for t in threads:
    t.join()
