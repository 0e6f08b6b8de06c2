# Regenerates the protobuf codec's Go code from reading.proto. Included by the
# top-level Makefile. protoc comes from Debian (protobuf-compiler); protoc-gen-go is
# built at the google.golang.org/protobuf version go.mod pins, so generated code
# and runtime always match.
PROTO_DIR := pipeline/codec/pb
PROTOC_GEN_GO := $(CURDIR)/bin/protoc-gen-go

.PHONY: proto proto-tools proto-check

proto-tools:
	@command -v protoc >/dev/null 2>&1 || { apt-get update && apt-get install -y protobuf-compiler; }
	GOBIN=$(CURDIR)/bin go install google.golang.org/protobuf/cmd/protoc-gen-go

proto: proto-tools
	protoc --plugin=protoc-gen-go=$(PROTOC_GEN_GO) --proto_path=$(PROTO_DIR) \
		--go_out=$(PROTO_DIR) --go_opt=paths=source_relative $(PROTO_DIR)/reading.proto

# proto-check fails when the committed generated code is stale.
proto-check: proto
	git diff --exit-code -- $(PROTO_DIR)
