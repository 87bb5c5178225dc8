# SPDX-License-Identifier: GPL-2.0-only
# GPU workloads with known launch counts for tests/gpu/run.sh (PyTorch, Triton).
#   matmul N SIZE   : N x torch.matmul of SIZE^2 fp32 (TF32 off) after 10 warm-ups; prints us/iter
#   triton N        : a Triton vector add (grid 1024, BLOCK 1024) run N+1 times (first compiles)
#   h2d N           : N pageable 4 MiB host-to-device copies
import sys
import time

import torch

what, n = sys.argv[1], int(sys.argv[2])
torch.backends.cuda.matmul.allow_tf32 = False
if what == "matmul":
    size = int(sys.argv[3])
    x = torch.randn(size, size, device="cuda")
    y = torch.randn(size, size, device="cuda")
    z = torch.empty(size, size, device="cuda")
    for _ in range(10):
        torch.matmul(x, y, out=z)
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n):
        torch.matmul(x, y, out=z)
    torch.cuda.synchronize()
    print("us_per_iter %.3f" % ((time.perf_counter() - t) / n * 1e6))
elif what == "triton":
    import triton
    import triton.language as tl

    @triton.jit
    def add(x_ptr, y_ptr, out_ptr, n_elem, BLOCK: tl.constexpr):
        pid = tl.program_id(axis=0)
        offs = pid * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n_elem
        tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=mask) + tl.load(y_ptr + offs, mask=mask), mask=mask)

    size = 1024 * 1024
    x = torch.randn(size, device="cuda")
    y = torch.randn(size, device="cuda")
    out = torch.empty_like(x)
    for _ in range(n + 1):
        add[(1024,)](x, y, out, size, BLOCK=1024)
    torch.cuda.synchronize()
elif what == "h2d":
    a = torch.randn(1024 * 1024)  # 4 MiB
    a.to("cuda")
    torch.cuda.synchronize()
    for _ in range(n):
        a.to("cuda")
    torch.cuda.synchronize()
else:
    sys.exit("unknown workload " + what)
