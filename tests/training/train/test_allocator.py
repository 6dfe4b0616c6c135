"""`keep_freed_memory`: after it, a loop that allocates and frees the same large block (as training steps do) soon
takes no fresh pages from the kernel; without it, glibc maps each large block anew and every page faults again.
Run in child processes: malloc settings are process-wide."""

import json
import subprocess
import sys

import pytest

CHILD = """
import json, resource, sys
from flash_training.train.allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "tuned" else None
import torch  # its CPU tensors come from malloc (numpy would ask for huge pages and hide the effect)
torch.ones(16 << 20).sum()  # 64 MB, allocated, touched and freed once before counting
faults = []
for _ in range(12):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(16 << 20).sum()
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
    # Aligned blocks leave gaps at first, so the heap grows a few times; then freed memory is reused.
    assert max(tuned["faults"][-5:]) < pages // 100
