# secnn — the two commands a newcomer needs are `make serve` and `make test`.
#
# One cargo profile (release) serves builds and tests; the target directory lives outside the
# checkout so that every clone on this machine (and CI) shares one warm build.

export CARGO_TARGET_DIR ?= $(HOME)/.cache/secnn/target
SHELL := /bin/bash
PORT ?= 8080
DATASET_ARCHIVE ?= ../shared/datasets/cifar10-jpeg.tar.gz
DATA_DIR := data
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/ {getline; gsub(/[^0-9.]/, ""); print}' Cargo.lock)
WASM_PACK := wasm-pack

.PHONY: serve test test-native test-wasm test-e2e wasm wasm-cpu wasm-threads wasm-webgpu wasm-archive wasm-onnx web page-files package site build tools test-tools data bench teacher clean

## Serve the page at http://127.0.0.1:$(PORT) (tools/static-server.mjs) as soon as the CPU module
## is built, and build the other modules meanwhile: the page runs on the CPU module until they
## exist, and its status bar says what is still building (building.json, removed when done).
BUILDING := building.json
serve: tools node_modules
	$(MAKE) wasm-cpu page-files
	@echo '{"building":["the threaded CPU module","the WebGPU module","the archive module","the ONNX module"]}' > $(BUILDING)
	@echo "serving http://127.0.0.1:$(PORT)/ (Ctrl-C to stop); the other modules build meanwhile"
	@tools/serve.sh $(PORT) & server=$$!; trap 'kill $$server 2>/dev/null; rm -f $(BUILDING)' EXIT INT TERM; \
		$(MAKE) wasm-threads wasm-webgpu wasm-archive wasm-onnx page-files && rm -f $(BUILDING) && \
		echo "every module is built: reload the page to use them (serving http://127.0.0.1:$(PORT)/)"; \
		wait $$server

## Every test: native (model, data, training, import, backends), wasm in Chromium, the page end to end
test: test-tools data
	$(MAKE) test-native test-wasm test-e2e

## The page in headless Chromium (playwright-core), served by tools/serve.sh like `make serve`;
## the package installed into Vite, webpack and cross-origin apps; the site under a sub-path
test-e2e: web package site
	node --test --test-concurrency=1 tests/e2e/

test-native: data
	cargo test --release --locked --workspace

## wasm tests in headless Chromium (WebGPU through SwiftShader, and the CPU backend)
test-wasm: test-tools
	WASM_BINDGEN_TEST_TIMEOUT=900 $(WASM_PACK) test --headless --chrome --chromedriver "$$(command -v chromedriver)" --release -- --features webgpu

## The native CLI
build:
	cargo build --release --locked
	@echo "binary: $(CARGO_TARGET_DIR)/release/secnn"

# The size-built modules (the CPU ones a page starts on, and the archive module) leave out the
# file, line and column of every panic message (`-Z location-detail=none`, which stable cargo
# takes with RUSTC_BOOTSTRAP=1): 3 % of the gzipped module (BENCHMARKS.md, "Archives").
WASM_SIZE_FLAGS := -Zlocation-detail=none
SMALL_WASM := RUSTC_BOOTSTRAP=1 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128 $(WASM_SIZE_FLAGS)"

## The three browser modules, from the one crate: www/secnn/pkg-cpu (CPU only, size profile
## `wasm-cpu`: what a page starts on), www/secnn/pkg-threads (the same on a rayon pool of Web
## Workers: what a cross-origin isolated page starts on) and www/secnn/pkg (with WebGPU, loaded in
## the background when the browser grants an adapter); and two small modules loaded only when
## used: www/secnn/pkg-archive (the secnn-archive crate: project files and zips) and
## www/secnn/pkg-onnx (the secnn-onnx crate: ONNX export). Each is built by cargo and
## wasm-bindgen (no wasm-pack: that is only the wasm tests' runner), as a target of its own so
## that `make serve` can serve once the CPU module is built. Binaryen 132 (npm) then drops the
## debug names: a fifth off the gzipped download (BENCHMARKS.md); its -Oz gains nothing more.
wasm: wasm-cpu wasm-threads wasm-webgpu wasm-archive wasm-onnx

# The debug names of one module dropped (binaryen), and its size said. The modules a page
# starts on (and the small ones) also get binaryen's -O1: 3.4 % off the threaded module gzipped,
# speed unchanged (BENCHMARKS.md, "Size of the browser module"); -Oz makes it larger gzipped.
define shrink
	@node_modules/.bin/wasm-opt --strip-debug --strip-producers $(2) $(1) -o $(1) && \
		echo "$(1): $$(stat -c %s $(1)) bytes, $$(gzip -9 -c $(1) | wc -c) gzipped"
endef

wasm-cpu: tools node_modules
	$(SMALL_WASM) cargo build --lib --locked --target wasm32-unknown-unknown --profile wasm-cpu
	wasm-bindgen --target web --out-dir www/secnn/pkg-cpu --out-name secnn "$(CARGO_TARGET_DIR)/wasm32-unknown-unknown/wasm-cpu/secnn.wasm"
	$(call shrink,www/secnn/pkg-cpu/secnn_bg.wasm,-O1)

wasm-webgpu: tools node_modules
	cargo build --lib --locked --target wasm32-unknown-unknown --release --features webgpu
	wasm-bindgen --target web --out-dir www/secnn/pkg --out-name secnn "$(CARGO_TARGET_DIR)/wasm32-unknown-unknown/release/secnn.wasm"
	$(call shrink,www/secnn/pkg/secnn_bg.wasm)

wasm-archive: tools node_modules
	$(SMALL_WASM) cargo build -p secnn-archive --lib --locked --target wasm32-unknown-unknown --profile wasm-cpu --features web
	wasm-bindgen --target web --out-dir www/secnn/pkg-archive --out-name secnn_archive "$(CARGO_TARGET_DIR)/wasm32-unknown-unknown/wasm-cpu/secnn_archive.wasm"
	$(call shrink,www/secnn/pkg-archive/secnn_archive_bg.wasm,-O1)

wasm-onnx: tools node_modules
	$(SMALL_WASM) cargo build -p secnn-onnx --lib --locked --target wasm32-unknown-unknown --profile wasm-cpu --features web
	wasm-bindgen --target web --out-dir www/secnn/pkg-onnx --out-name secnn_onnx "$(CARGO_TARGET_DIR)/wasm32-unknown-unknown/wasm-cpu/secnn_onnx.wasm"
	$(call shrink,www/secnn/pkg-onnx/secnn_onnx_bg.wasm,-O1)

# The threaded module: wasm threads need atomics in std too, so std is rebuilt (`-Z build-std`,
# which stable cargo takes with RUSTC_BOOTSTRAP=1 and the rust-src component), in a target
# directory of its own (other target features; no lock shared with the other builds). The
# link makes the memory shared and imported (4 GiB at most, as without threads) and exports the
# thread-local storage hooks wasm-bindgen's thread support calls; `cargo rustc` gives those
# link arguments to secnn alone, so changing them relinks without rebuilding every crate.
THREADS_TARGET_DIR := $(CARGO_TARGET_DIR)/threads
THREADS_LINK_ARGS := --shared-memory --import-memory --max-memory=4294967296 \
	--export=__wasm_init_tls --export=__tls_size --export=__tls_align --export=__tls_base
wasm-threads: tools node_modules
	RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$(THREADS_TARGET_DIR)" \
	CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128,+atomics,+bulk-memory,+mutable-globals $(WASM_SIZE_FLAGS)" \
		cargo rustc --lib --locked --target wasm32-unknown-unknown --profile wasm-threads --features threads -Z build-std=panic_abort,std \
		-- $(foreach arg,$(THREADS_LINK_ARGS),-C link-arg=$(arg))
	rm -rf www/secnn/pkg-threads
	wasm-bindgen --target web --out-dir www/secnn/pkg-threads --out-name secnn "$(THREADS_TARGET_DIR)/wasm32-unknown-unknown/wasm-threads/secnn.wasm"
	$(call shrink,www/secnn/pkg-threads/secnn_bg.wasm,-O1)

## Everything the page needs: the wasm modules, the vendored chart library and the page's own
## files, precompressed (brotli and gzip next to each file) for tools/static-server.mjs or any static host
web: wasm page-files

## The page's own files, the vendored chart library and the modules built so far, precompressed
page-files: node_modules
	node tools/vendor.mjs
	node tools/compress.mjs $(wildcard www/secnn/pkg www/secnn/pkg-cpu www/secnn/pkg-threads www/secnn/pkg-archive www/secnn/pkg-onnx) www/secnn/model www/page/vendor www/page/examples www/examples index.html sw.js manifest.webmanifest $(wildcard www/secnn/*.js www/page/*.js www/*.svg)

## The browser module as an npm package: secnn-<version>.tgz (README, "Install")
package: web
	node tools/package.mjs

## The page as a folder for any static host: site/ (README, "Publish the page")
site: web
	node tools/site.mjs

node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

## Build tools pinned to Cargo.lock (installed once, from crates.io, if missing): what the
## modules need (the wasm target, std's sources for the threaded one, wasm-bindgen)
tools:
	@rustup target list --installed | grep -q wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@rustup component list --installed | grep -q '^rust-src' || rustup component add rust-src
	@if [ "$$(wasm-bindgen --version 2>/dev/null | awk '{print $$2}')" != "$(WASM_BINDGEN_VERSION)" ]; then \
		cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --force; fi

## …and what the tests need besides: wasm-pack, the wasm tests' runner
test-tools: tools
	@command -v wasm-pack >/dev/null || cargo install wasm-pack --version 0.15.1

## CIFAR-10 test/train images unpacked from ../shared (skipped when the archive is absent)
data:
	@if [ -d $(DATA_DIR)/cifar10/test ]; then :; \
	elif [ -f $(DATASET_ARCHIVE) ]; then mkdir -p $(DATA_DIR) && tar -xzf $(DATASET_ARCHIVE) -C $(DATA_DIR) && echo "unpacked $(DATASET_ARCHIVE) into $(DATA_DIR)/"; \
	else echo "NOTE: $(DATASET_ARCHIVE) not found: tests that need CIFAR-10 images will say they are skipped"; fi

## Speed against PyTorch (native) and TensorFlow.js (headless Chromium) on this machine, sizes,
## cold start-up and Lighthouse's scores; rewrites the tables in BENCHMARKS.md (not part of `make test`)
bench: build web bench/node_modules bench/.venv/bin/python
	bench/.venv/bin/python bench/native.py --secnn "$(CARGO_TARGET_DIR)/release/secnn"
	node bench/browser.mjs
	node bench/lighthouse.mjs

## The distillation teacher for `secnn train --teacher` (README, "Retraining"): the student run's
## validation split is written first, so the teacher never trains on it; resumable (`--resume`:
## run it again to continue). The shipped weights' teacher is an ensemble: TEACHER_ARGS (an
## airbench-style network at airbench94's size, 10 epochs, no label smoothing; empty:
## tools/teacher.py's larger defaults) trained once per seed in TEACHER_SEEDS, and
## $(TEACHER_RUN)/teacher.logits the mean of their logits (one seed: its own). It runs in
## bfloat16 where the CPU has bf16 units (BENCHMARKS.md has its time).
TEACHER_RUN ?= runs/teacher
TEACHER_SEEDS ?= 0 1 2
TEACHER_ARGS ?= --widths 64,256,256 --convs 2 --epochs 10 --lr 11.5 --weight-decay 0.0153 \
	--warmup 0.23 --final-lr 0.07 --translate 2 --cutout 0 --label-smoothing 0
teacher: build data bench/.venv/bin/python
	"$(CARGO_TARGET_DIR)/release/secnn" train --data $(DATA_DIR)/cifar10 --out runs/split-s1 --validation-split 0.05 --seed 1 --max-steps 0
	for seed in $(TEACHER_SEEDS); do \
	  bench/.venv/bin/python tools/teacher.py --data $(DATA_DIR)/cifar10 --exclude runs/split-s1/validation.txt \
	    --out $(TEACHER_RUN)/seed$$seed $(TEACHER_ARGS) --seed $$seed --resume || exit 1; \
	done
	python3 tools/ensemble_logits.py --out $(TEACHER_RUN)/teacher.logits $(TEACHER_SEEDS:%=$(TEACHER_RUN)/seed%/teacher.logits)

# PyTorch for the native comparison and the teacher, in an ignored virtual environment (nothing installed by hand)
bench/.venv/bin/python: bench/requirements.txt
	python3 -m venv bench/.venv
	bench/.venv/bin/pip install --quiet -r bench/requirements.txt
	@touch bench/.venv/bin/python

# TensorFlow.js for the browser comparison (kept out of the page's own dependencies)
bench/node_modules: bench/package.json bench/package-lock.json
	npm ci --prefix bench --no-audit --no-fund
	@touch bench/node_modules

clean:
	rm -rf www/secnn/pkg www/secnn/pkg-cpu www/secnn/pkg-threads www/secnn/pkg-archive www/secnn/pkg-onnx build site secnn-*.tgz $(DATA_DIR)
