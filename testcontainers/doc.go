// Package testcontainers turns a scenario's `target:` block into a running pipeline on
// the local Docker engine — MQTT broker, a KRaft Kafka cluster, Cassandra and the
// bridge/sink/API services on one dedicated network — and hands the harness its
// endpoints; it also provides the external target for user-supplied endpoints.
//
// Images come from an [ImageCatalog]: upstream images where a registry is reachable,
// or the offline equivalents `make images` builds on a machine without one. Both
// honour the same environment-variable conventions, so one code path drives either.
//
// Integration tests need a Docker engine and run only with `-tags containers`.
package testcontainers
