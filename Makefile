# StreamScore — the two newcomer commands are `make run` and `make test`; both install what is missing.
SHELL := /bin/bash
SWIFT ?= swift
APT_PACKAGES := librdkafka-dev kcat pkg-config libsqlite3-dev curl
# What the test suite needs beyond the build: a browser, Prometheus and PostgreSQL for real-peer tests.
TEST_APT_PACKAGES := chromium prometheus postgresql sqlite3 openssl
RELEASE_BIN := .build/release/streamscore

.PHONY: run test soak fuzz deploy-check bench build deps test-deps apt clean c-consumer

## Install missing system packages (Debian): librdkafka, kcat, SQLite headers.
deps:
	@$(MAKE) --no-print-directory apt PKGS="$(APT_PACKAGES)"

test-deps:
	@$(MAKE) --no-print-directory apt PKGS="$(APT_PACKAGES) $(TEST_APT_PACKAGES)"

apt:
	@missing=""; \
	for p in $(PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
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
	@# The embedded broker starts empty each time, so the demo starts from an empty store too.
	rm -f .streamscore-demo.db .streamscore-demo.db-wal .streamscore-demo.db-shm
	$(RELEASE_BIN) run --demo --store sqlite:.streamscore-demo.db

## The test suite (Swift Testing) against the embedded broker, real peers (kcat, Chromium, Prometheus,
## PostgreSQL) and the shared oracles. Suites run one after another (--no-parallel): the crash, scale-out
## and browser tests start engine processes whose timing must not depend on other suites' load (2 cores).
## The short soak (SoakTests at small scale) runs here too; deploy/ is validated offline (deploy/check.sh).
## Tests write their stores, logs and sockets under one temporary folder (TMPDIR), removed afterwards;
## readable by others, since the PostgreSQL tests' private servers run as the postgres user inside it.
test: test-deps
	@if [ -z "$$STREAMSCORE_TEST_POSTGRES_URL" ]; then eval "$$(bash .ci/postgres.sh)"; fi; \
	$(SWIFT) build --build-tests && \
	tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/streamscore-tests.XXXXXX") && chmod 755 "$$tmp" && \
	TMPDIR=$$tmp $(SWIFT) test --skip-build --no-parallel; rc=$$?; rm -rf "$$tmp"; exit $$rc
	bash deploy/check.sh

## The fault-injection suite at full scale (1 M events, 20 kill -9, 2-minute rebalance storm, …): prints
## `soak:` figures (docs/reliability.md). Takes 20–30 minutes on 2 cores.
soak: test-deps
	@if [ -z "$$STREAMSCORE_TEST_POSTGRES_URL" ]; then eval "$$(bash .ci/postgres.sh)"; fi; \
	$(SWIFT) build --build-tests && \
	tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/streamscore-soak.XXXXXX") && chmod 755 "$$tmp" && \
	{ set -o pipefail; TMPDIR=$$tmp STREAMSCORE_SOAK=full $(SWIFT) test --skip-build --no-parallel --filter SoakTests 2>&1 | tee soak.log | grep -E "soak:|✘|Test run"; }; \
	rc=$$?; rm -rf "$$tmp"; exit $$rc

## libFuzzer on the event decoder and the PMML loader (fuzz/README.md); FUZZ_RUNS=N shortens it.
fuzz:
	bash fuzz/run.sh

deploy-check:
	bash deploy/check.sh

bench/c_consumer: bench/c_consumer.c
	cc -O2 -o $@ $< $$(pkg-config --cflags --libs rdkafka)

c-consumer: deps bench/c_consumer

## Throughput and latency figures (docs/benchmarks.md); compares with a minimal C consumer. Each end-to-end
## section runs in its own process (its peak RSS starts from a clean process); each process ends with its
## goals, met or not met.
bench: c-consumer
	$(SWIFT) build -c release --product streamscore
	$(RELEASE_BIN) bench --c-consumer bench/c_consumer --only kafka,core,scoring
	$(RELEASE_BIN) bench --c-consumer bench/c_consumer --only prediction
	$(RELEASE_BIN) bench --c-consumer bench/c_consumer --only latency
	@# Preloaded at 100,000 events: at 1 M the hottest customer's partition outgrows the mock broker's
	@# ~5 MiB per partition (the C consumer read 773,735 of 1,000,000 on 2026-11-29). The section then runs
	@# the 1 M-event stream paced at 50,000 events/s while the engine reads (--zipf-paced-messages/-rate).
	$(RELEASE_BIN) bench --c-consumer bench/c_consumer --only zipf --e2e-messages 100000
	$(RELEASE_BIN) bench --c-consumer bench/c_consumer --only counter
	@# End to end into PostgreSQL when a database is given (an empty one: the bench writes its tables);
	@# the bench reads STREAMSCORE_BENCH_POSTGRES_URL itself.
	@if [ -n "$$STREAMSCORE_BENCH_POSTGRES_URL" ]; then \
	  $(RELEASE_BIN) bench --c-consumer bench/c_consumer --only postgres; \
	fi

clean:
	rm -rf .build bench/c_consumer
