#!/usr/bin/env bash
# Prepares, on the development machine, what cuda-check.sh needs on a GPU machine that has no
# Node: this Node, compressed (the binary alone is over the device tool's 64 MiB carry limit),
# and the TypeScript build. Then run, through the device tool:
#   command:   bash scripts/device/cuda-check.sh --iterations 1000   (a default-length run, timed)
#   carry:     .device node_modules/node-addon-api node_modules/node-api-headers dist
#   timeout_s: about 480 (the build takes a minute or two, the checks under a minute on an H200)
set -euo pipefail
cd "$(dirname "$0")/../.."
npm run --silent setup
mkdir -p .device
xz -T0 -6 -c "$(command -v node)" >.device/node.xz
du -sh .device dist node_modules/node-addon-api node_modules/node-api-headers
