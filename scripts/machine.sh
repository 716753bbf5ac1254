#!/usr/bin/env bash
# Prints the CPU and PyTorch's kernel level: speed ratios only compare on the same CPU.
# Sourced by the compare_*.sh scripts, with PYTHON set.
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
family=$(grep -m1 'cpu family' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | tr -d ' ' || true)
avx512=$(grep -qm1 avx512f /proc/cpuinfo 2>/dev/null && echo yes || echo no)
torch=$("$PYTHON" -c 'import torch; print(torch.__version__, torch.backends.cpu.get_cpu_capability())' 2>/dev/null || echo "not found")
echo "machine: ${cpu:-unknown CPU} (family ${family:-?}), $(nproc) cores, AVX-512 $avx512; torch $torch"
