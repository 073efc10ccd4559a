#!/usr/bin/env bash
# On a GPU machine: unpacks the carried Node, builds the addon with the project's CMakeLists.txt
# against the CUDA LibTorch that machine's python3 has (the search in cmake/libtorch.cmake finds
# it), shows that the CUDA libraries are linked, and runs cuda-check.js. Logs go to $OUT when set.
# Arguments are passed to cuda-check.js.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-$(mktemp -d)}
work=$(mktemp -d)

mkdir -p "$work/bin"
python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
  .device/node.xz "$work/bin/node"
chmod +x "$work/bin/node"
export PATH="$work/bin:$PATH"
echo "node $(node --version)," \
  "$(python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>/dev/null ||
    echo 'python3 has no torch')"

# The build folder is the machine's own: a carried one would hold the other machine's paths.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$PWD/build/Release" \
  -DCMAKE_JS_INC="$PWD/node_modules/node-api-headers/include" >"$out/cmake.log" 2>&1 ||
  { tail -40 "$out/cmake.log"; exit 1; }
cmake --build build --parallel "$(nproc)" >"$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
echo "linked: $(readelf -d build/Release/neural_style.node | grep -o 'lib[a-z0-9_]*\.so[.0-9]*' | tr '\n' ' ')"

# What binding.gyp would get from the same search (node-gyp itself is not carried).
echo "node-gyp ldflags: $(node scripts/libtorch-flags.js ldflags)"
echo "node-gyp libraries: $(node scripts/libtorch-flags.js libraries)"

node scripts/device/cuda-check.js "$@" | tee "$out/cuda-check.log"
