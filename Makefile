# StreamScore — the two newcomer commands are `make run` and `make test`; both install what is missing.
SHELL := /bin/bash
SWIFT ?= swift
APT_PACKAGES := librdkafka-dev kcat pkg-config libsqlite3-dev
RELEASE_BIN := .build/release/streamscore

.PHONY: run test bench build deps clean c-consumer

## Install missing system packages (Debian): librdkafka, kcat, SQLite headers.
deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

build: deps
	$(SWIFT) build

## The whole engine on its embedded defaults: embedded broker, SQLite, bundled demo model, synthetic load.
run: deps
	$(SWIFT) build -c release --product streamscore
	$(RELEASE_BIN) run --demo

## The test suite (Swift Testing) against the embedded broker and the shared oracles.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

bench/c_consumer: bench/c_consumer.c
	cc -O2 -o $@ $< $$(pkg-config --cflags --libs rdkafka)

c-consumer: deps bench/c_consumer

## Throughput and latency figures (docs/benchmarks.md); compares with a minimal C consumer.
bench: c-consumer
	$(SWIFT) build -c release --product streamscore
	$(RELEASE_BIN) bench --c-consumer bench/c_consumer

clean:
	rm -rf .build bench/c_consumer
