// Package pb holds the Go code generated from reading.proto, the protobuf codec's
// wire schema. Regenerate with `make proto`; never edit reading.pb.go by hand.
package pb
