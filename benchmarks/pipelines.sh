#!/bin/sh
# The pipelines through `stylert bench` on the bundled defaults, PyTorch eager as baseline;
# writes benchmarks/results/bench-MODEL.{json,md}. Run from the repository root.
set -e
out=benchmarks/results
stylert bench adain --size 256,480 --backend onnxruntime-cpu --precision fp32,int8 --baseline torch-eager \
    --iterations 20 --duration 10 --json $out/bench-adain.json --markdown $out/bench-adain.md
stylert bench stylegan --batch 1,16 --backend onnxruntime-cpu --precision fp32,int8 --baseline torch-eager \
    --iterations 50 --duration 5 --json $out/bench-stylegan.json --markdown $out/bench-stylegan.md
stylert bench ae --batch 1,256 --backend onnxruntime-cpu --precision fp32,int8 --baseline torch-eager \
    --iterations 200 --duration 3 --json $out/bench-ae.json --markdown $out/bench-ae.md
