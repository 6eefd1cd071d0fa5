#!/bin/sh
# The pipelines through `stylert bench` on the bundled defaults, PyTorch eager as baseline;
# writes benchmarks/results/bench-MODEL-MACHINE.{json,md} (and .png for adain, stylegan and live).
# Run from the repository root.
set -e
out=benchmarks/results
m=$(python -c 'from stylert.sysinfo import machine_slug; print(machine_slug())')
stylert bench adain --size 256,480 --backend onnxruntime-cpu --precision fp32,int8 --baseline torch-eager \
    --iterations 20 --duration 10 --json $out/bench-adain-$m.json --markdown $out/bench-adain-$m.md --plot $out/bench-adain-$m.png
stylert bench stylegan --batch 1,16 --backend onnxruntime-cpu --precision fp32,int8 --baseline torch-eager \
    --iterations 50 --duration 5 --json $out/bench-stylegan-$m.json --markdown $out/bench-stylegan-$m.md --plot $out/bench-stylegan-$m.png
stylert bench ae --batch 1,256 --backend onnxruntime-cpu --precision fp32,int8 --baseline torch-eager \
    --iterations 200 --duration 3 --json $out/bench-ae-$m.json --markdown $out/bench-ae-$m.md
stylert bench live --size 320,288 --backend onnxruntime-cpu --precision fp32,int8 --baseline torch-eager \
    --iterations 30 --duration 8 --json $out/bench-live-$m.json --markdown $out/bench-live-$m.md --plot $out/bench-live-$m.png
