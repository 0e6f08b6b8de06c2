# citybench — the commands a user and CI run. `make help` lists them.
SHELL := /bin/bash
GO ?= go
SCENARIO ?= scenarios/district.yaml
RESULTS ?= results
# TAGS=containers adds the tests that drive real containers (CI sets it after `make docker images`).
TAGS ?=

.PHONY: help run build test test-short bench bench-pipeline lint chromium hdr-jar k8s-validate docker images clean

help: ## list targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build bin/citybench
	$(GO) build -o bin/citybench ./cmd/citybench

run: build ## run the demo scenario on the embedded pipeline and write an HTML report
	./bin/citybench run $(SCENARIO) --out $(RESULTS)/demo

test: ## all tests (embedded integration and browser tests included; TAGS=containers for container tests)
ifneq (,$(findstring containers,$(TAGS)))
	@# Container tests start whole topologies: one package at a time keeps two cores from thrashing;
	@# -count=1 because a cached pass says nothing about the containers running now.
	$(GO) test -tags "$(TAGS)" -p 1 -count=1 -timeout 40m ./...
	scripts/with-cassandra.sh $(GO) test -count=1 -v ./pipeline/store/cassandra/
else
	$(GO) test -timeout 30m ./...
endif

test-short: ## unit tests only
	$(GO) test -short ./...

# BenchmarkGenerator plays each of its sides once per round (≈ 21 s a round): three rounds, in
# rotating order, so a busy machine slows every side alike; docs/performance.md keeps the figures.
bench: ## Go benchmarks, each reporting ratios against a baseline measured in the same run
	$(GO) test -run '^$$' -bench . -skip '^BenchmarkGenerator$$' ./...
	$(GO) test -run '^$$' -bench '^BenchmarkGenerator$$' -benchtime 3x -timeout 10m ./harness/devices/

# Needs the offline Mosquitto, Kafka and Cassandra images (built here when missing) and
# runs the bridge and sink in-process against them; docs/performance.md keeps the figures.
bench-pipeline: docker-engine ## bridge vs raw kafka-go producer, sink vs raw gocql writer, on containers
	testcontainers/images/build.sh base mosquitto kafka cassandra
	$(GO) test -tags containers -run '^$$' -bench '^BenchmarkPipeline$$' -benchtime 3x -count 1 -timeout 30m ./testcontainers/

lint: ## gofmt and go vet
	@fmt=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$fmt" ]; then echo "gofmt would change:"; echo "$$fmt"; exit 1; fi
	$(GO) vet -tags containers ./...

chromium: ## install Debian's headless Chromium for the browser tests
	@command -v chromium >/dev/null 2>&1 || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

# HdrHistogram's Java jar, for the test that feeds our .hlog files to its HistogramLogProcessor.
HDR_JAVA_VERSION := 2.2.2
HDR_JAR := .cache/jars/HdrHistogram-$(HDR_JAVA_VERSION).jar
hdr-jar: $(HDR_JAR) ## fetch HdrHistogram's Java jar (Maven) and print its path for CITYBENCH_HDR_JAR
	@echo $(abspath $(HDR_JAR))

$(HDR_JAR):
	@mkdir -p $(dir $@)
	mvn -B -q dependency:copy -Dartifact=org.hdrhistogram:HdrHistogram:$(HDR_JAVA_VERSION) -DoutputDirectory=$(dir $@) >&2

# kubernetes-validate (PyPI) bundles the Kubernetes JSON schemas: the manifests are checked offline.
K8S_VALIDATE_VERSION := 1.37.0
K8S_VENV := .cache/k8s-validate
k8s-validate: $(K8S_VENV)/bin/kubernetes-validate ## check deploy/kubernetes/ against the Kubernetes schema, unknown fields rejected
	$(K8S_VENV)/bin/kubernetes-validate --strict deploy/kubernetes/*.yaml

$(K8S_VENV)/bin/kubernetes-validate:
	python3 -m venv $(K8S_VENV)
	$(K8S_VENV)/bin/pip install -q kubernetes-validate==$(K8S_VALIDATE_VERSION)

clean: ## remove build output and run folders
	rm -rf bin $(RESULTS)


include pipeline/codec/pb/proto.mk
include testcontainers/images/images.mk
