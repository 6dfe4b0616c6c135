"""`keep_freed_memory`: after it, a loop that allocates and frees the same large block (as training steps do) soon
takes no fresh pages from the kernel; without it, glibc maps each large block anew and every page faults again.
Run in child processes: malloc settings are process-wide."""

import json
import subprocess
import sys

import pytest

CHILD = """
import ctypes, ctypes.util, json, resource, sys
from flash_training.train.allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "tuned" else None
# libc's malloc itself, as torch's CPU allocator uses it; one block size and nothing else allocated in the loop,
# so the count depends only on the malloc settings (torch's aligned blocks and thread pools made it vary).
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
size = 64 << 20
def block():  # allocate, touch every page, free
    p = libc.malloc(size)
    ctypes.memset(p, 1, size)
    libc.free(p)
block()  # the first block always takes fresh pages
faults = []
for _ in range(8):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"applied": applied, "faults": faults}))
"""


def faults_per_block(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_blocks_are_reused_without_page_faults():
    default, tuned = faults_per_block("default"), faults_per_block("tuned")
    assert tuned["applied"] is True
    pages = (64 << 20) // 4096
    assert min(default["faults"][-5:]) > pages // 2  # every 64 MB block comes back as fresh pages
    assert max(tuned["faults"]) < pages // 100  # the freed block is taken again from the heap
