#!/usr/bin/python3
"""How bfloat16 layers fare against float32 on CPUs with and without bfloat16 arithmetic.

One machine stands in for three kinds of x86 CPU by capping the instructions LibTorch may use:
  native   - AVX-512 BF16 or AMX, as this machine has;
  avx512   - AVX-512 without BF16 (ONEDNN_MAX_CPU_ISA=AVX512_CORE): oneDNN emulates bfloat16;
  avx2     - no AVX-512 (ONEDNN_MAX_CPU_ISA=AVX2, ATEN_CPU_CAPABILITY=avx2). PyTorch sends
             bfloat16 convolutions to oneDNN only on AVX-512 (mkldnn_bf16_device_check), so here
             they run with oneDNN off, as they would on such a CPU.
Each times VGG-19 up to relu5_1, forward and back to the image, as one iteration of a run does
(torchvision's layers, random weights, 2 threads), and prints medians and the ratio.

  /usr/bin/python3 scripts/bfloat16-cpus.py [--size 256] [--repeats 3]
"""
import argparse
import os
import subprocess
import sys
import time

CPUS = {
    'native': {},
    'avx512': {'ONEDNN_MAX_CPU_ISA': 'AVX512_CORE'},
    'avx2': {'ONEDNN_MAX_CPU_ISA': 'AVX2', 'ATEN_CPU_CAPABILITY': 'avx2'},
}


def median_ms(cpu, dtype_name, size, repeats):
    """Run in this process, under the environment `cpu` set up before torch loaded."""
    import torch
    import torchvision

    torch.manual_seed(0)
    torch.set_num_threads(2)
    dtype = getattr(torch, dtype_name)
    network = torchvision.models.vgg19().features[:30].eval().to(dtype)
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    width, height = size, size * 3 // 4
    use_onednn = not (cpu == 'avx2' and dtype == torch.bfloat16)

    def iteration():
        with torch.backends.mkldnn.flags(enabled=use_onednn):
            image = torch.rand(1, 3, height, width, requires_grad=True)
            features = network(image.to(dtype)).float()
            (features * features).mean().backward()

    iteration()  # oneDNN builds its kernels on the first pass
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        iteration()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--size', type=int, default=256)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--measure', nargs=2, metavar=('CPU', 'DTYPE'), help=argparse.SUPPRESS)
    flags = parser.parse_args()
    if flags.measure:
        print(median_ms(*flags.measure, flags.size, flags.repeats))
        return

    print(f'VGG-19 to relu5_1, forward and backward, {flags.size}x{flags.size * 3 // 4}, median of {flags.repeats}')
    print('| CPU | float32 ms | bfloat16 ms | bfloat16 / float32 |')
    print('| --- | --- | --- | --- |')
    for cpu, environment in CPUS.items():
        times = {}
        for dtype in ('float32', 'bfloat16'):
            result = subprocess.run(
                [sys.executable, __file__, '--size', str(flags.size), '--repeats', str(flags.repeats), '--measure', cpu, dtype],
                env={**os.environ, **environment}, capture_output=True, text=True, check=True)
            times[dtype] = float(result.stdout)
        print(f"| {cpu} | {times['float32']:.0f} | {times['bfloat16']:.0f} | {times['bfloat16'] / times['float32']:.2f} |")


if __name__ == '__main__':
    main()
