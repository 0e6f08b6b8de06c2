package testcontainers

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	tc "github.com/testcontainers/testcontainers-go"
	"golang.org/x/sync/errgroup"

	"github.com/citybench/citybench/pipeline/kafkasec"
	"github.com/citybench/citybench/pipeline/service"
)

// brokerInfo is how to reach one MQTT broker from the host and from the network.
type brokerInfo struct {
	name       string // network alias: mqtt, or mqtt-1 … mqtt-n in a tier
	hostURL    string // e.g. tcp://127.0.0.1:49153, the loopback port mapping
	networkURL string // e.g. tcp://mqtt:1883, for the bridge
	// directURL is the broker's container address as the host reaches it (e.g.
	// tcp://172.18.0.5:1883), set when devices connect there rather than
	// through the port mapping (Topology.DirectBrokers).
	directURL  string
	user, pass string
}

const mqttUser = "citybench"

// brokerName is broker i's network alias: mqtt when there is one, as the
// single-broker topology always had, else mqtt-1 … mqtt-n.
func (t *Target) brokerName(i int) string {
	if t.top.Brokers == 1 {
		return "mqtt"
	}
	return fmt.Sprintf("mqtt-%d", i+1)
}

// startBroker starts broker i of the tier and waits until it answers where the
// devices will connect.
func (t *Target) startBroker(ctx context.Context, i int) (brokerInfo, error) {
	var (
		info brokerInfo
		err  error
	)
	switch t.top.Broker {
	case CompHiveMQ:
		info, err = t.startHiveMQ(ctx, t.brokerName(i))
	default:
		info, err = t.startMosquitto(ctx, t.brokerName(i))
	}
	if err != nil || !t.top.DirectBrokers(t.cfg.devices) {
		return info, err
	}
	return t.reachDirectly(ctx, info)
}

// reachDirectly finds the broker's container address and checks the host
// reaches it: a tier's devices connect there, since the engine's userland
// proxy behind a port mapping holds six files per connection and reset every
// connection beyond about 3,300 per broker.
func (t *Target) reachDirectly(ctx context.Context, info brokerInfo) (brokerInfo, error) {
	m, _, err := t.container(info.name)
	if err != nil {
		return info, err
	}
	ip, err := m.c.ContainerIP(ctx)
	if err != nil {
		return info, fmt.Errorf("%s address: %w", info.name, err)
	}
	_, port, _ := strings.Cut(strings.TrimPrefix(info.networkURL, "tcp://"), ":")
	info.directURL = "tcp://" + net.JoinHostPort(ip, port)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := MQTTConnect(cctx, info.directURL, nil, info.user, info.pass); err != nil {
		return info, fmt.Errorf("%d devices over %d brokers need the brokers' container addresses, but this host cannot reach %s at %s (%v): "+
			"through the engine's port mapping one broker takes about %d devices — set target.brokers to %d, or run the engine on this host",
			t.cfg.devices, t.top.Brokers, info.name, info.directURL, err, MappedBrokerDevices, ceilDiv(t.cfg.devices, MappedBrokerDevices))
	}
	return info, nil
}

// deviceURLs are where devices connect, broker by broker in tier order.
func deviceURLs(brokers []brokerInfo) []string {
	out := make([]string, len(brokers))
	for i, b := range brokers {
		out[i] = cmp.Or(b.directURL, b.hostURL)
	}
	return out
}

// mosquittoConf is the broker's configuration. Limits are raised because the
// defaults (e.g. 1000 queued messages per client) would make the broker, not the
// pipeline, the thing a load test measures.
func mosquittoConf(tls bool) string {
	var b strings.Builder
	// Persistence writes sessions and queued messages only at autosave and at a
	// graceful shutdown, never per message: a restarted broker keeps its
	// persistent sessions (QoS 1/2 in flight to the bridge) at no cost to a run.
	b.WriteString("persistence true\npersistence_location /mosquitto/data/\nautosave_interval 1800\n")
	b.WriteString("log_dest stdout\nlog_type error\nlog_type warning\nlog_type notice\n")
	b.WriteString("max_queued_messages 100000\nmax_inflight_messages 0\nset_tcp_nodelay true\nsys_interval 1\n")
	if tls {
		b.WriteString("per_listener_settings false\nallow_anonymous false\npassword_file /mosquitto/config/passwd\n")
		b.WriteString("listener 8883\ncafile /mosquitto/config/certs/ca.crt\ncertfile /mosquitto/config/certs/server.crt\n")
		b.WriteString("keyfile /mosquitto/config/certs/server.key\nrequire_certificate true\ntls_version tlsv1.2\n")
	} else {
		b.WriteString("listener 1883\nallow_anonymous true\n")
	}
	return b.String()
}

func (t *Target) startMosquitto(ctx context.Context, name string) (brokerInfo, error) {
	useTLS := t.tls != nil
	port := "1883/tcp"
	info := brokerInfo{name: name, networkURL: "tcp://" + name + ":1883"}
	files := []tc.ContainerFile{{Reader: strings.NewReader(mosquittoConf(useTLS)), ContainerFilePath: "/mosquitto/config/mosquitto.conf", FileMode: 0o644}}
	if useTLS {
		port = "8883/tcp"
		info.networkURL = "ssl://" + name + ":8883"
		info.user = mqttUser
		info.pass = t.mqttPass
		line, err := mosquittoPasswordLine(info.user, info.pass)
		if err != nil {
			return info, err
		}
		// The broker drops root for the mosquitto user, so its files must be world-readable;
		// the key is a throwaway for this run only.
		files = append(files,
			tc.ContainerFile{Reader: strings.NewReader(line), ContainerFilePath: "/mosquitto/config/passwd", FileMode: 0o644},
			tc.ContainerFile{Reader: strings.NewReader(string(t.tls.CA.Cert)), ContainerFilePath: "/mosquitto/config/certs/ca.crt", FileMode: 0o644},
			tc.ContainerFile{Reader: strings.NewReader(string(t.tls.Server.Cert)), ContainerFilePath: "/mosquitto/config/certs/server.crt", FileMode: 0o644},
			tc.ContainerFile{Reader: strings.NewReader(string(t.tls.Server.Key)), ContainerFilePath: "/mosquitto/config/certs/server.key", FileMode: 0o644},
		)
	}
	m, err := t.run(ctx, name, CompMosquitto, tc.ContainerRequest{
		Image:              t.catalog.Image(CompMosquitto),
		ExposedPorts:       []string{port},
		Files:              files,
		HostConfigModifier: loopbackOnly(map[string]int{port: 0}),
	})
	if err != nil {
		return info, err
	}
	return t.waitBroker(ctx, m, port, info)
}

func (t *Target) waitBroker(ctx context.Context, m *managed, port string, info brokerInfo) (brokerInfo, error) {
	hp, err := hostPort(ctx, m, port)
	if err != nil {
		return info, err
	}
	scheme := "tcp"
	if t.tls != nil {
		scheme = "ssl"
	}
	info.hostURL = scheme + "://" + hp
	tlsCfg, err := t.clientTLS()
	if err != nil {
		return info, err
	}
	err = poll(ctx, m.name, 300*time.Millisecond, func(ctx context.Context) error {
		return MQTTConnect(ctx, info.hostURL, tlsCfg, info.user, info.pass)
	})
	return info, err
}

func (t *Target) clientTLS() (*tls.Config, error) {
	if t.tls == nil {
		return nil, nil
	}
	return t.tls.ClientConfig()
}

// kafkaDialer is how the target's own Kafka clients (readiness, topic creation)
// connect: as the harness does.
func (t *Target) kafkaDialer() (*kafka.Dialer, error) {
	var sec kafkasec.Config
	if t.sec != nil {
		c, err := t.clientTLS()
		if err != nil {
			return nil, err
		}
		sec = t.sec.kafka(c)
	}
	return sec.Dialer(5 * time.Second)
}

// cqlAuth is how the target's own CQL clients on the host connect.
func (t *Target) cqlAuth() (CQLAuth, error) {
	if t.sec == nil {
		return CQLAuth{}, nil
	}
	c, err := t.clientTLS()
	if err != nil {
		return CQLAuth{}, err
	}
	return t.sec.cql(c), nil
}

// hivemqMaxInflightEnv sets HiveMQ CE's per-client in-flight window in the offline
// image (testcontainers/images/hivemq/allow-all, InflightWindow.java).
const hivemqMaxInflightEnv = "CITYBENCH_HIVEMQ_MAX_INFLIGHT"

// hivemqMaxInflight bounds what the bridge holds unacknowledged (it takes whatever
// the broker's window lets through; see pipeline/bridge) and is below MQTT's 65535
// packet ids.
const hivemqMaxInflight = 16384

func (t *Target) startHiveMQ(ctx context.Context, name string) (brokerInfo, error) {
	port := "1883/tcp"
	// Limits raised for the same reason as Mosquitto's (see mosquittoConf):
	//   - in-memory persistence (Mosquitto writes its file only at autosave and shutdown): with file
	//     persistence every QoS 1 message queued for the bridge's persistent shared
	//     subscription goes through the disk, which on a shared host delayed PUBACKs
	//     to devices by seconds and starved the broker tap;
	//   - the per-client in-flight window. HiveMQ CE caps unacknowledged QoS 1/2
	//     messages to a subscriber at 50 (min(receive maximum, 50) for MQTT 5) and
	//     config.xml cannot change it. The bridge acknowledges only after Kafka
	//     (acks=all), so it got 50 messages per Kafka round trip: below 200 msg/s at
	//     the 0.5-1 s round trips of a loaded host, and the rest queued in the broker
	//     (the run's Kafka stage lost nearly everything). The offline image's
	//     extension raises the window from hivemqMaxInflightEnv; the upstream image
	//     ignores the variable and keeps 50.
	// C1-only JIT (-XX:TieredStopAtLevel=1): load starts seconds after the broker, and
	// C2 compiling its hot paths then competes with the Kafka and Cassandra JVMs for
	// the host's cores. In one smoke run each on a loaded 2-core host, device PUBACK
	// p50 was 454 ms with C2 (store lost 865 readings at the drain deadline) and
	// 21 ms without (no loss).
	listener := `<tcp-listener><port>1883</port><bind-address>0.0.0.0</bind-address></tcp-listener>`
	info := brokerInfo{name: name, networkURL: "tcp://" + name + ":1883"}
	var files []tc.ContainerFile
	if t.sec != nil {
		// TLS only: the plaintext listener is not configured at all.
		var err error
		if listener, files, err = t.sec.hivemqListener(); err != nil {
			return info, err
		}
		port = "8883/tcp"
		info.networkURL = "ssl://" + name + ":8883"
	}
	conf := `<?xml version="1.0"?>
<hivemq>
    <listeners>
        ` + listener + `
    </listeners>
    <mqtt>
        <queued-messages><max-queue-size>100000</max-queue-size></queued-messages>
    </mqtt>
    <persistence><mode>in-memory</mode></persistence>
    <anonymous-usage-statistics><enabled>false</enabled></anonymous-usage-statistics>
</hivemq>
`
	m, err := t.run(ctx, name, CompHiveMQ, tc.ContainerRequest{
		Image:              t.catalog.Image(CompHiveMQ),
		ExposedPorts:       []string{port},
		Env:                map[string]string{"JAVA_OPTS": "-Xmx384m -Xms64m -XX:TieredStopAtLevel=1", hivemqMaxInflightEnv: strconv.Itoa(hivemqMaxInflight)},
		Files:              append(files, file("/opt/hivemq/conf/config.xml", []byte(conf), 0o644)),
		HostConfigModifier: loopbackOnly(map[string]int{port: 0}),
	})
	if err != nil {
		return info, err
	}
	return t.waitBroker(ctx, m, port, info)
}

// startKafka starts a KRaft cluster where every broker is also a controller (the
// smallest layout that keeps a quorum when one broker fails). Each broker has two
// listeners: INTERNAL for the bridge and sink on the network, EXTERNAL advertised
// as a loopback port for the harness on the host.
func (t *Target) startKafka(ctx context.Context) ([]string, error) {
	n := t.top.KafkaBrokers
	hostPorts := make([]int, n)
	voters := make([]string, n)
	for i := range n {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		hostPorts[i] = p
		voters[i] = fmt.Sprintf("%d@kafka-%d:9093", i+1, i+1)
	}
	cid := t.cfg.kafkaClusterID
	if cid == "" {
		var err error
		if cid, err = newClusterID(rand.Reader); err != nil {
			return nil, err
		}
	}
	internalRF := strconv.Itoa(min(3, n))
	g, gctx := errgroup.WithContext(ctx)
	for i := range n {
		id := i + 1
		name := fmt.Sprintf("kafka-%d", id)
		env := map[string]string{
			"CLUSTER_ID":                                     cid,
			"KAFKA_NODE_ID":                                  strconv.Itoa(id),
			"KAFKA_PROCESS_ROLES":                            "broker,controller",
			"KAFKA_LISTENERS":                                "INTERNAL://:19092,EXTERNAL://:9092,CONTROLLER://:9093",
			"KAFKA_ADVERTISED_LISTENERS":                     fmt.Sprintf("INTERNAL://%s:19092,EXTERNAL://127.0.0.1:%d", name, hostPorts[i]),
			"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":           "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
			"KAFKA_CONTROLLER_LISTENER_NAMES":                "CONTROLLER",
			"KAFKA_INTER_BROKER_LISTENER_NAME":               "INTERNAL",
			"KAFKA_CONTROLLER_QUORUM_VOTERS":                 strings.Join(voters, ","),
			"KAFKA_LOG_DIRS":                                 "/var/lib/kafka/data",
			"KAFKA_NUM_PARTITIONS":                           strconv.Itoa(t.top.Partitions),
			"KAFKA_DEFAULT_REPLICATION_FACTOR":               strconv.Itoa(t.top.ReplicationFactor),
			"KAFKA_MIN_INSYNC_REPLICAS":                      strconv.Itoa(t.top.MinInsyncReplicas),
			"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         internalRF,
			"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": internalRF,
			"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            strconv.Itoa(min(2, n)),
			"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS":         "0",
			// Topics are created explicitly with the scenario's partitions and RF;
			// auto-creation would hide a misnamed topic behind RF defaults.
			"KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
			"KAFKA_HEAP_OPTS":                 t.cfg.kafkaHeap,
			// C1-only JIT, as for HiveMQ: load starts seconds after the brokers, and
			// C2 compiling their produce and replication paths competes with the
			// other JVMs for the host's cores while the run is measured. On a fresh
			// cluster acks=all writes took 40-110 ms for ~12 s before settling at
			// ~15 ms, and the brokers' busiest threads during the smoke run were the
			// C1/C2 compilers. KAFKA_OPTS is honoured by the offline and upstream images.
			"KAFKA_OPTS": "-XX:TieredStopAtLevel=1",
		}
		ports := map[string]int{"9092/tcp": hostPorts[i]}
		if t.proxies != nil && t.cfg.proxied[linkKafka] {
			if err := t.proxyKafka(name, env, ports); err != nil {
				return nil, err
			}
		}
		var files []tc.ContainerFile
		if t.sec != nil {
			var err error
			if files, err = t.sec.kafkaBroker(env); err != nil {
				return nil, err
			}
		}
		g.Go(func() error {
			_, err := t.run(gctx, name, CompKafka, tc.ContainerRequest{
				Image:              t.catalog.Image(CompKafka),
				ExposedPorts:       slices.Collect(maps.Keys(ports)),
				Env:                env,
				Files:              files,
				HostConfigModifier: loopbackOnly(ports),
			})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	bootstrap := make([]string, n)
	for i, p := range hostPorts {
		bootstrap[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	}
	d, err := t.kafkaDialer()
	if err != nil {
		return nil, err
	}
	if err := waitKafka(ctx, d, bootstrap, n); err != nil {
		return nil, err
	}
	// The pipeline never auto-creates topics, so the dead-letter topic is made here too.
	for _, topic := range []string{t.top.KafkaTopic, t.dlqTopic()} {
		if err := createTopic(ctx, d, bootstrap[0], topic, t.top.Partitions, t.top.ReplicationFactor, t.top.MinInsyncReplicas); err != nil {
			return nil, err
		}
	}
	return bootstrap, nil
}

// startCassandra starts the nodes one after another: Cassandra refuses concurrent
// bootstraps, and each node must be answering CQL before the next joins.
func (t *Target) startCassandra(ctx context.Context) ([]string, error) {
	var hosts []string
	for i := range t.top.CassandraNodes {
		name := fmt.Sprintf("cassandra-%d", i+1)
		env := map[string]string{
			"CASSANDRA_CLUSTER_NAME": "citybench",
			"CASSANDRA_SEEDS":        "cassandra-1",
			"MAX_HEAP_SIZE":          t.cfg.cassandraHeap,
			"HEAP_NEWSIZE":           t.cfg.cassandraNewGen,
			// A fresh test cluster has no gossip state to wait for; the default 30 s
			// settling wait only slows every run down.
			"JVM_EXTRA_OPTS": "-Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=5000",
		}
		var files []tc.ContainerFile
		if t.sec != nil {
			files = t.sec.cassandraNode(env)
		}
		m, err := t.run(ctx, name, CompCassandra, tc.ContainerRequest{
			Image:              t.catalog.Image(CompCassandra),
			ExposedPorts:       []string{"9042/tcp"},
			Env:                env,
			Files:              files,
			HostConfigModifier: loopbackOnly(map[string]int{"9042/tcp": 0}),
		})
		if err != nil {
			return nil, err
		}
		hp, err := hostPort(ctx, m, "9042/tcp")
		if err != nil {
			return nil, err
		}
		if err := t.waitCassandra(ctx, name, hp, i == 0); err != nil {
			return nil, err
		}
		hosts = append(hosts, hp)
	}
	return hosts, nil
}

// waitCassandra waits until the node answers CQL as the run's client. Under the
// tls profile the first node starts with only the default superuser, which is then
// replaced by the run's role (see secrets.cassandraRoles).
func (t *Target) waitCassandra(ctx context.Context, name, hostport string, first bool) error {
	auth, err := t.cqlAuth()
	if err != nil {
		return err
	}
	if t.sec != nil && first {
		asDefault, asRun := t.sec.cassandraRoles()
		def := auth
		def.Username, def.Password = "cassandra", "cassandra"
		if err := poll(ctx, name, time.Second, func(ctx context.Context) error {
			return cqlExec(ctx, hostport, def, asDefault...)
		}); err != nil {
			return err
		}
		if err := poll(ctx, name+" roles", time.Second, func(ctx context.Context) error {
			return cqlExec(ctx, hostport, auth, asRun...)
		}); err != nil {
			return err
		}
	}
	return poll(ctx, name, time.Second, func(ctx context.Context) error {
		_, err := CQLQuery(ctx, hostport, auth)
		return err
	})
}

// startServices starts bridge and sink replicas and the API from the citybench
// image, wired to the others by network alias, and returns the API's host URL.
func (t *Target) startServices(ctx context.Context, brokers []brokerInfo) (string, error) {
	broker := brokers[0] // every broker of a tier has the same credentials
	var internalKafka, internalCQL []string
	for i := range t.top.KafkaBrokers {
		internalKafka = append(internalKafka, fmt.Sprintf("kafka-%d:19092", i+1))
	}
	for i := range t.top.CassandraNodes {
		internalCQL = append(internalCQL, fmt.Sprintf("cassandra-%d:9042", i+1))
	}
	common := map[string]string{
		service.EnvKafkaBrokers:           strings.Join(internalKafka, ","),
		service.EnvKafkaTopic:             t.top.KafkaTopic,
		service.EnvKafkaDLQTopic:          t.dlqTopic(),
		"CITYBENCH_STORE":                 "cassandra",
		service.EnvCassandraHosts:         strings.Join(internalCQL, ","),
		service.EnvCassandraKeyspace:      t.cfg.keyspace,
		"CITYBENCH_CASSANDRA_REPLICATION": t.replication(),
	}
	if t.cfg.codec != "" {
		common["CITYBENCH_CODEC"] = t.cfg.codec
	}
	if t.cfg.template != "" {
		common["CITYBENCH_TOPIC_TEMPLATE"] = t.cfg.template
	}
	with := func(extra map[string]string) map[string]string {
		env := make(map[string]string, len(common)+len(extra))
		for k, v := range common {
			env[k] = v
		}
		for k, v := range extra {
			env[k] = v
		}
		return env
	}
	// A container file's reader is consumed by the container it is copied into, so
	// every container gets files of its own.
	files := func() []tc.ContainerFile { return nil }
	if t.sec != nil {
		secEnv, _ := t.sec.services(broker)
		for k, v := range secEnv {
			common[k] = v
		}
		files = func() []tc.ContainerFile { _, f := t.sec.services(broker); return f }
	}
	image := t.catalog.Image(CompServices)
	started, err := t.startBridges(ctx, brokers, image, with, files)
	if err != nil {
		return "", err
	}
	var sinkEnv map[string]string
	if t.top.SinkMaxWriteRate > 0 {
		sinkEnv = map[string]string{service.EnvSinkMaxWriteRate: strconv.FormatFloat(t.top.SinkMaxWriteRate, 'f', -1, 64)}
	}
	for i := range t.top.SinkReplicas {
		m, err := t.run(ctx, fmt.Sprintf("sink-%d", i+1), "sink", tc.ContainerRequest{
			Image: image, Cmd: []string{"pipeline", "serve", "sink"}, Env: with(sinkEnv), Files: files(),
		})
		if err != nil {
			return "", err
		}
		started = append(started, m)
	}
	api, err := t.run(ctx, "api", "api", tc.ContainerRequest{
		Image:              image,
		Cmd:                []string{"pipeline", "serve", "api"},
		Env:                with(map[string]string{"CITYBENCH_LISTEN": ":8080"}),
		Files:              files(),
		ExposedPorts:       []string{"8080/tcp"},
		HostConfigModifier: loopbackOnly(map[string]int{"8080/tcp": 0}),
	})
	if err != nil {
		return "", err
	}
	hp, err := hostPort(ctx, api, "8080/tcp")
	if err != nil {
		return "", err
	}
	url := "http://" + hp
	if err := poll(ctx, "api", 500*time.Millisecond, func(ctx context.Context) error {
		return HTTPOK(ctx, url+"/healthz")
	}); err != nil {
		return "", err
	}
	// Bridge and sink have no port to probe; one that failed to connect exits, so
	// "still running once the API answers" is the check that catches misconfiguration.
	for _, m := range started {
		st, err := m.c.State(ctx)
		if err != nil {
			return "", fmt.Errorf("%s state: %w", m.name, err)
		}
		if !st.Running {
			return "", fmt.Errorf("%s exited (code %d); see its log in the run folder", m.name, st.ExitCode)
		}
	}
	return url, nil
}

// startBridges starts each broker's bridge replicas: a bridge forwards its own
// broker's stream, as each district's bridge does in a city with a broker per
// district. env and files give each container its settings.
func (t *Target) startBridges(ctx context.Context, brokers []brokerInfo, image string,
	env func(map[string]string) map[string]string, files func() []tc.ContainerFile) ([]*managed, error) {
	// Replicas share the broker's stream through a shared subscription instead of each
	// receiving (and forwarding) every message. A single bridge subscribes plainly:
	// Mosquitto 2.0.11 restores a persistent session's shared subscription after a
	// restart but queues nothing for it until the client is back — a broker restart
	// lost every QoS 1/2 message published before the bridge reconnected (471 of
	// 10,005, each acknowledged to its device), while a plain subscription keeps them.
	bridgeCmd := []string{"pipeline", "serve", "bridge", "--mqtt-share-group="} // an empty environment value means the default group
	if t.top.BridgeReplicas > 1 {
		bridgeCmd = bridgeCmd[:3]
	}
	var started []*managed
	for b, broker := range brokers {
		bridgeEnv := map[string]string{service.EnvMQTTURL: broker.networkURL}
		if t.top.BridgeReplicas > 1 {
			bridgeEnv["CITYBENCH_MQTT_SHARE_GROUP"] = "citybench-bridges"
		}
		if err := t.proxyBridge(broker, bridgeEnv); err != nil {
			return nil, err
		}
		for r := range t.top.BridgeReplicas {
			m, err := t.run(ctx, t.bridgeName(b, r), "bridge", tc.ContainerRequest{
				Image: image, Cmd: bridgeCmd, Env: env(bridgeEnv), Files: files(),
			})
			if err != nil {
				return nil, err
			}
			started = append(started, m)
		}
	}
	return started, nil
}

// bridgeName is the alias of broker b's bridge replica r: bridge-1 … for one
// broker, as ever, bridge-<broker> for a tier with one replica each, and
// bridge-<broker>-<replica> otherwise.
func (t *Target) bridgeName(b, r int) string {
	switch {
	case t.top.Brokers == 1:
		return fmt.Sprintf("bridge-%d", r+1)
	case t.top.BridgeReplicas == 1:
		return fmt.Sprintf("bridge-%d", b+1)
	default:
		return fmt.Sprintf("bridge-%d-%d", b+1, r+1)
	}
}

// dlqTopic is where the bridge puts payloads it refuses.
func (t *Target) dlqTopic() string { return t.top.KafkaTopic + ".dlq" }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
