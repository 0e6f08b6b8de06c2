package testcontainers

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"

	tc "github.com/testcontainers/testcontainers-go"

	"github.com/citybench/citybench/pipeline/kafkasec"
	"github.com/citybench/citybench/pipeline/pki"
	"github.com/citybench/citybench/pipeline/service"
)

// The tls security profile, hop by hop (every certificate comes from the run's
// throwaway CA, every password is random per run):
//
//   - MQTT: TLS only with client certificates required (Mosquitto adds a password
//     file; HiveMQ CE authenticates by certificate, its allow-all extension then
//     admits the client).
//   - Kafka: every broker listener the harness or the services reach (INTERNAL on
//     the network, EXTERNAL on loopback) is SASL_SSL: TLS with client certificates
//     required and SASL/SCRAM-SHA-512. Brokers replicate over INTERNAL, so
//     inter-broker traffic is secured the same way. The KRaft controller listener
//     stays PLAINTEXT on the container network only (never published): Kafka's
//     controller quorum does not take SCRAM, and no client ever reaches it.
//   - Cassandra: PasswordAuthenticator and client encryption with client
//     certificates required; the well-known cassandra/cassandra superuser is
//     replaced by a per-run role and disabled.
type secrets struct {
	ca *pki.Material
	// nodes is the Kafka and Cassandra nodes' certificate: every node name, and
	// client usage too because a Kafka broker presents it when it dials its peers.
	nodes pki.PEM
	// storePass protects the PKCS#12 key and trust stores of the Java servers.
	storePass            string
	kafkaUser, kafkaPass string
	cqlUser, cqlPass     string
}

// cassandraServerName is the name every Cassandra node's certificate carries: the
// drivers dial nodes they find through the ring by IP, which no certificate names.
const cassandraServerName = "cassandra"

// kafkaSCRAMEnv holds the SCRAM credentials the offline Kafka image adds when it
// formats its storage (kafka-storage format --add-scram); upstream apache/kafka has
// no such variable.
const kafkaSCRAMEnv = "CITYBENCH_KAFKA_SCRAM"

// kafkaSecrets is where the apache/kafka image convention looks for
// KAFKA_SSL_*_FILENAME and *_CREDENTIALS files.
const kafkaSecrets = "/etc/kafka/secrets"

func newSecrets(top Topology) (*secrets, error) {
	hosts := []string{"mqtt", "localhost", "127.0.0.1"}
	for i := range top.Brokers {
		if top.Brokers > 1 {
			hosts = append(hosts, fmt.Sprintf("mqtt-%d", i+1)) // a tier's bridges reach each broker by name
		}
	}
	m, err := pki.New(hosts, "citybench-client")
	if err != nil {
		return nil, fmt.Errorf("tls material: %w", err)
	}
	nodeHosts := []string{cassandraServerName, "localhost", "127.0.0.1"}
	for i := range top.KafkaBrokers {
		nodeHosts = append(nodeHosts, fmt.Sprintf("kafka-%d", i+1))
	}
	for i := range top.CassandraNodes {
		nodeHosts = append(nodeHosts, fmt.Sprintf("cassandra-%d", i+1))
	}
	nodes, err := m.Issue("citybench node", nodeHosts, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	if err != nil {
		return nil, fmt.Errorf("node certificate: %w", err)
	}
	return &secrets{
		ca: m, nodes: nodes, storePass: randomHex(12),
		kafkaUser: "citybench", kafkaPass: randomHex(16),
		cqlUser: "citybench", cqlPass: randomHex(16),
	}, nil
}

func file(path string, content []byte, mode int64) tc.ContainerFile {
	return tc.ContainerFile{Reader: strings.NewReader(string(content)), ContainerFilePath: path, FileMode: mode}
}

// kafka is how the harness's Kafka clients on the host connect.
func (s *secrets) kafka(client *tls.Config) kafkasec.Config {
	return kafkasec.Config{TLS: client, Mechanism: kafkasec.ScramSHA512, Username: s.kafkaUser, Password: s.kafkaPass}
}

// cql is how the harness's CQL clients on the host connect.
func (s *secrets) cql(client *tls.Config) CQLAuth {
	c := client.Clone()
	c.ServerName = cassandraServerName
	return CQLAuth{Username: s.cqlUser, Password: s.cqlPass, TLS: c}
}

// kafkaBroker adds SASL_SSL to one broker's environment, in the apache/kafka
// image's conventions (KAFKA_* → server.properties; key and trust stores named by
// KAFKA_SSL_*_FILENAME with their passwords in *_CREDENTIALS files under
// /etc/kafka/secrets), and returns the files that convention reads.
func (s *secrets) kafkaBroker(env map[string]string) ([]tc.ContainerFile, error) {
	ks, err := s.ca.KeyStore(s.nodes, s.storePass)
	if err != nil {
		return nil, err
	}
	ts, err := s.ca.TrustStore(s.storePass)
	if err != nil {
		return nil, err
	}
	jaas := fmt.Sprintf(`org.apache.kafka.common.security.scram.ScramLoginModule required username="%s" password="%s";`, s.kafkaUser, s.kafkaPass)
	for k, v := range map[string]string{
		"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":                            "INTERNAL:SASL_SSL,EXTERNAL:SASL_SSL,CONTROLLER:PLAINTEXT",
		"KAFKA_SASL_ENABLED_MECHANISMS":                                   kafkasec.ScramSHA512,
		"KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL":                      kafkasec.ScramSHA512,
		"KAFKA_LISTENER_NAME_INTERNAL_SCRAM___SHA___512_SASL_JAAS_CONFIG": jaas,
		"KAFKA_LISTENER_NAME_EXTERNAL_SCRAM___SHA___512_SASL_JAAS_CONFIG": jaas,
		// Broker-level ssl.client.auth applies to SSL listeners only; SASL_SSL
		// listeners take it from their listener prefix (KIP-684).
		"KAFKA_LISTENER_NAME_INTERNAL_SSL_CLIENT_AUTH": "required",
		"KAFKA_LISTENER_NAME_EXTERNAL_SSL_CLIENT_AUTH": "required",
		"KAFKA_SSL_KEYSTORE_TYPE":                      "PKCS12",
		"KAFKA_SSL_KEYSTORE_FILENAME":                  "kafka.keystore.p12",
		"KAFKA_SSL_KEYSTORE_CREDENTIALS":               "keystore_creds",
		"KAFKA_SSL_KEY_CREDENTIALS":                    "keystore_creds",
		"KAFKA_SSL_TRUSTSTORE_TYPE":                    "PKCS12",
		"KAFKA_SSL_TRUSTSTORE_FILENAME":                "kafka.truststore.p12",
		"KAFKA_SSL_TRUSTSTORE_CREDENTIALS":             "truststore_creds",
		kafkaSCRAMEnv:                                  fmt.Sprintf("%s=[name=%s,password=%s]", kafkasec.ScramSHA512, s.kafkaUser, s.kafkaPass),
	} {
		env[k] = v
	}
	return []tc.ContainerFile{
		file(kafkaSecrets+"/kafka.keystore.p12", ks, 0o644),
		file(kafkaSecrets+"/kafka.truststore.p12", ts, 0o644),
		file(kafkaSecrets+"/keystore_creds", []byte(s.storePass), 0o644),
		file(kafkaSecrets+"/truststore_creds", []byte(s.storePass), 0o644),
	}, nil
}

// Where the offline Cassandra image's entrypoint looks for client encryption
// (testcontainers/images/cassandra/entrypoint.sh).
const (
	cassandraKeystore   = "/etc/cassandra/tls/node.pem"
	cassandraTruststore = "/etc/cassandra/tls/ca.pem"
)

// cassandraNode turns on PasswordAuthenticator and PEM client encryption (client
// certificates required) in one node's environment and returns its files.
func (s *secrets) cassandraNode(env map[string]string) []tc.ContainerFile {
	env["CASSANDRA_AUTHENTICATOR"] = "PasswordAuthenticator"
	env["CASSANDRA_CLIENT_ENCRYPTION_KEYSTORE"] = cassandraKeystore
	env["CASSANDRA_CLIENT_ENCRYPTION_TRUSTSTORE"] = cassandraTruststore
	// The default superuser is created 10 s after start unless told otherwise; the
	// start waits for it to replace it.
	env["JVM_EXTRA_OPTS"] += " -Dcassandra.superuser_setup_delay_ms=0"
	keystore := append(append([]byte{}, s.nodes.Key...), s.nodes.Cert...)
	keystore = append(keystore, s.ca.CA.Cert...)
	return []tc.ContainerFile{
		file(cassandraKeystore, keystore, 0o644),
		file(cassandraTruststore, s.ca.CA.Cert, 0o644),
	}
}

// cassandraRoles replaces the default cassandra/cassandra superuser, which anyone
// knows, by the run's own role, and disables the default one.
func (s *secrets) cassandraRoles() (asDefault, asRun []string) {
	return []string{
			fmt.Sprintf("CREATE ROLE IF NOT EXISTS %s WITH PASSWORD = '%s' AND LOGIN = true AND SUPERUSER = true", s.cqlUser, s.cqlPass),
		}, []string{
			fmt.Sprintf("ALTER ROLE cassandra WITH PASSWORD = '%s' AND LOGIN = false AND SUPERUSER = false", randomHex(16)),
		}
}

// hivemqListener is HiveMQ CE's TLS listener (client certificates required) and
// the PKCS#12 stores it reads.
func (s *secrets) hivemqListener() (string, []tc.ContainerFile, error) {
	ks, err := s.ca.KeyStore(s.ca.Server, s.storePass)
	if err != nil {
		return "", nil, err
	}
	ts, err := s.ca.TrustStore(s.storePass)
	if err != nil {
		return "", nil, err
	}
	xml := fmt.Sprintf(`<tls-tcp-listener>
            <port>8883</port><bind-address>0.0.0.0</bind-address>
            <tls>
                <keystore><path>/opt/hivemq/conf/certs/broker.p12</path><password>%[1]s</password><private-key-password>%[1]s</private-key-password></keystore>
                <truststore><path>/opt/hivemq/conf/certs/ca.p12</path><password>%[1]s</password></truststore>
                <client-authentication-mode>REQUIRED</client-authentication-mode>
            </tls>
        </tls-tcp-listener>`, s.storePass)
	return xml, []tc.ContainerFile{
		file("/opt/hivemq/conf/certs/broker.p12", ks, 0o644),
		file("/opt/hivemq/conf/certs/ca.p12", ts, 0o644),
	}, nil
}

// services are the bridge, sink and API settings for TLS on every hop and the
// client certificate files they read.
func (s *secrets) services(broker brokerInfo) (map[string]string, []tc.ContainerFile) {
	const ca, cert, key = "/certs/ca.crt", "/certs/client.crt", "/certs/client.key"
	env := map[string]string{
		"CITYBENCH_MQTT_CA": ca, "CITYBENCH_MQTT_CERT": cert, "CITYBENCH_MQTT_KEY": key,
		service.EnvKafkaCA: ca, service.EnvKafkaCert: cert, service.EnvKafkaKey: key,
		service.EnvKafkaSASLMechanism: kafkasec.ScramSHA512,
		service.EnvKafkaUsername:      s.kafkaUser, service.EnvKafkaPassword: s.kafkaPass,
		service.EnvCassandraCA: ca, service.EnvCassandraCert: cert, service.EnvCassandraKey: key,
		service.EnvCassandraServerName: cassandraServerName,
		service.EnvCassandraUsername:   s.cqlUser, service.EnvCassandraPassword: s.cqlPass,
	}
	if broker.user != "" {
		env["CITYBENCH_MQTT_USERNAME"] = broker.user
		env["CITYBENCH_MQTT_PASSWORD"] = broker.pass
	}
	return env, []tc.ContainerFile{
		file(ca, s.ca.CA.Cert, 0o644),
		file(cert, s.ca.Client.Cert, 0o644),
		file(key, s.ca.Client.Key, 0o600),
	}
}
