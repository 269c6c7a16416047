#!/usr/bin/env python3
"""Rewrites backends/cuda sources into host C++ for the emulation in cuda_runtime.h here.

usage: convert.py OUT_DIR SOURCE...

Each .cu becomes OUT_DIR/<name>.cpp and each header (.h, .cuh) is copied to OUT_DIR, with:
  * `kernel<<<grid, block, smem, stream>>>(args);` as `emu::launch(grid, block, smem, stream, [&] { kernel(args); });`,
    or emu::launch_serial in a file that never cooperates inside a block (no barrier, shuffle or shared memory:
    its threads can run one after another);
  * `extern __shared__ T name[];` as a pointer to the block's dynamic shared memory;
  * kMaxBlocks cut to 3, since every emulated CUDA thread is a host thread: small inputs still span several blocks;
  * namespace tern::gpu renamed tern::gpu_emu, so the emulated launchers never meet the real ones that libtern
    exports (check_launch has the same signature in both);
  * kernels.h included from OUT_DIR.
Line numbers are kept, and a #line names the original file, so compiler errors point at the .cu source.
"""
import os
import re
import sys

LAUNCH = re.compile(r'(\b[A-Za-z_][\w:]*(?:<[^;]*?>)?)(\s*)<<<(.*?)>>>(\s*)\((.*?)\);', re.S)
EXTERN_SHARED = re.compile(r'extern\s+__shared__\s+(?:__align__\(\d+\)\s+)?([\w:]+)\s+(\w+)\[\];')
MAX_BLOCKS = re.compile(r'(\bkMaxBlocks\s*=\s*)[^;]+;')
COOPERATES = re.compile(r'__syncthreads|__shfl|__shared__|block_reduce\.cuh')
KERNELS_H = re.compile(r'#include\s+[<"](?:tern/backends/cuda/)?kernels\.h[>"]')


def convert(path, text):
    name = os.path.basename(path)
    launcher = 'emu::launch' if COOPERATES.search(text) else 'emu::launch_serial'

    def launch(m):
        kernel, gap1, config, gap2, args = m.groups()
        # The whitespace around <<<...>>> may hold newlines: keep them, so that the lines after stay in place.
        newlines = '\n' * (gap1.count('\n') + gap2.count('\n'))
        return '%s(%s, [&] { %s(%s); });%s' % (launcher, config, kernel, args, newlines)

    out, launches = LAUNCH.subn(launch, text)
    out = EXTERN_SHARED.sub(lambda m: '%s* %s = emu_dyn_smem<%s>();' % (m.group(1), m.group(2), m.group(1)), out)
    out = MAX_BLOCKS.sub(lambda m: m.group(1) + 'int64_t{3};', out)
    out = re.sub(r'\btern::gpu\b', 'tern::gpu_emu', out)
    out = KERNELS_H.sub('#include "kernels.h"', out)
    if '<<<' in out:
        sys.exit('convert.py: %s: a launch the converter does not understand is left' % path)
    if name.endswith('.cu') and launches == 0 and '__global__' in text:
        sys.exit('convert.py: %s: kernels but no launch found' % path)
    return '#line 1 "%s"\n%s' % (os.path.abspath(path), out)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for path in sys.argv[2:]:
        with open(path) as f:
            text = f.read()
        name = os.path.basename(path)
        if name.endswith('.cu'):
            name = name[:-3] + '.cpp'
        result = convert(path, text)
        target = os.path.join(out_dir, name)
        # Unchanged outputs keep their time stamps, so that only what changed recompiles.
        if os.path.exists(target):
            with open(target) as f:
                if f.read() == result:
                    continue
        with open(target, 'w') as f:
            f.write(result)


if __name__ == '__main__':
    main()
