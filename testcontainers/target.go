package testcontainers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	tc "github.com/testcontainers/testcontainers-go"
	"golang.org/x/sync/errgroup"

	"github.com/citybench/citybench/harness/target"
	"github.com/citybench/citybench/pipeline/pki"
	"github.com/citybench/citybench/pipeline/store/cassandra"
	"github.com/citybench/citybench/reports/result"
	"github.com/citybench/citybench/scenarios"
)

// Target runs the reference pipeline in containers. It implements target.Target.
type Target struct {
	cfg    config
	top    Topology
	topErr error
	runID  string

	mu         sync.Mutex
	docker     *client.Client
	catalog    ImageCatalog
	netName    string
	containers []*managed
	tls        *pki.Material
	sec        *secrets // the tls profile's credentials; nil without it
	endpoints  target.Endpoints
	startTook  time.Duration
	stopped    bool
	// cassandraHosts are the nodes' CQL addresses on the host (loopback, mapped ports).
	cassandraHosts []string
	store          *cassandra.Store
	// proxies carry the links a scenario's network faults act on (nil: none).
	proxies *proxies
	// mqttPass is the password of every broker of the run under security tls.
	mqttPass string
}

// replication is the keyspace's replication map: RF 3 where the cluster allows,
// so a Cassandra node fault is survivable, as in production.
func (t *Target) replication() string {
	return fmt.Sprintf("{'class': 'SimpleStrategy', 'replication_factor': %d}", min(3, t.top.CassandraNodes))
}

// managed is one container this target started.
type managed struct {
	name      string // network alias and log file name, e.g. kafka-2
	component string
	c         tc.Container
}

var _ target.Target = (*Target)(nil)

// NewTarget prepares a containers target for a scenario's target block; nothing
// runs until Start. An invalid topology is reported by Start.
func NewTarget(sc scenarios.Target, opts ...Option) *Target {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	top, err := TopologyFor(sc, cfg.devices)
	return &Target{cfg: cfg, top: top, topErr: err, runID: newRunID(), mqttPass: randomHex(12)}
}

func newRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// RunID identifies this target's containers (label org.citybench.run).
func (t *Target) RunID() string { return t.runID }

// CassandraHosts returns the CQL addresses of the nodes as seen from the host.
// Drivers must not discover peers: the addresses peers advertise are container-internal.
func (t *Target) CassandraHosts() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.cassandraHosts...)
}

// Topology returns the defaulted topology.
func (t *Target) Topology() Topology { return t.top }

// StartDuration is how long the last successful Start took.
func (t *Target) StartDuration() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.startTook
}

// TLS returns the run's throwaway PKI when security is tls (nil otherwise), e.g. to
// mint a client certificate from another CA in tests.
func (t *Target) TLS() *pki.Material {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tls
}

// Start brings the topology up and waits until every part answers a real request.
// A container that exits meanwhile ends the wait at once with an *ExitedError.
// On any failure, cancellation or panic it tears down what it started.
func (t *Target) Start(ctx context.Context) (ep target.Endpoints, err error) {
	if t.topErr != nil {
		return ep, fmt.Errorf("containers target: %w", t.topErr)
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(ctx, t.cfg.startTimeout)
	defer cancel()
	ctx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	stopWatch := func() {}
	defer func() {
		stopWatch() // before the teardown, whose removals the watch would report as exits
		if r := recover(); r != nil {
			t.teardownAfterFailure(ctx)
			panic(r)
		}
		if err != nil {
			var exited *ExitedError
			if errors.As(context.Cause(ctx), &exited) {
				// What the waits saw (connection refused, a cancelled context) is only
				// the consequence; the container's exit is the cause.
				err = fmt.Errorf("containers target: %w", exited)
			}
			t.teardownAfterFailure(ctx)
		}
	}()

	dc, err := t.prepare(ctx)
	if err != nil {
		return ep, err
	}
	stopWatch = t.watchExits(ctx, dc, began, abort)
	if ep, err = t.startParts(ctx); err != nil {
		return ep, err
	}
	t.mu.Lock()
	t.endpoints = ep
	t.startTook = time.Since(began)
	t.mu.Unlock()
	t.cfg.log.Info("containers target ready", "run", t.runID, "took", time.Since(began).Round(time.Millisecond))
	return ep, nil
}

// prepare connects to the engine, resolves the images and creates the run's
// network and (for security: tls) its throwaway PKI: everything before the first container.
func (t *Target) prepare(ctx context.Context) (*client.Client, error) {
	dc, err := newDocker(ctx)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.docker = dc
	t.mu.Unlock()
	prepareEnv(ctx, t.cfg.log, func(ctx context.Context, ref string) bool {
		_, err := dc.ImageInspect(ctx, ref)
		return err == nil
	})

	comps := []string{t.top.Broker}
	if !t.cfg.brokerOnly {
		comps = append(comps, CompKafka, CompCassandra)
	}
	if t.cfg.services && !t.cfg.brokerOnly {
		comps = append(comps, CompServices)
	}
	cat, err := ResolveCatalog(ctx, dc, t.cfg.flavour, comps, t.cfg.pullTimeout)
	if err != nil {
		return nil, err
	}
	if t.top.Security == "tls" && cat.Flavour == Upstream && !t.cfg.brokerOnly {
		// apache/kafka cannot create the SCRAM user at format time and the cassandra
		// image has no settings for encryption or authentication: a run would start
		// and then fail to connect, so refuse now and say why.
		return nil, errors.New("containers target: security tls needs the offline Kafka and Cassandra images " +
			"(run `make images`, CITYBENCH_IMAGES=offline): upstream apache/kafka cannot create SCRAM users at format time " +
			"and the upstream cassandra image has no settings for client encryption or PasswordAuthenticator")
	}
	t.mu.Lock()
	t.catalog = cat
	t.mu.Unlock()
	t.cfg.log.Info("starting containers target", "run", t.runID, "images", cat.Flavour, "topology", t.top.Map())

	t.netName = "citybench-" + t.runID
	if _, err := dc.NetworkCreate(ctx, t.netName, client.NetworkCreateOptions{Driver: "bridge", Labels: t.labels("network")}); err != nil {
		return nil, fmt.Errorf("create network %s: %w", t.netName, err)
	}

	if len(t.cfg.proxied) > 0 {
		if err := t.startProxies(ctx, dc); err != nil {
			return nil, err
		}
	}

	if t.top.Security == "tls" {
		sec, err := newSecrets(t.top)
		if err != nil {
			return nil, err
		}
		t.mu.Lock()
		t.tls, t.sec = sec.ca, sec
		t.mu.Unlock()
	}
	return dc, nil
}

// startParts starts the containers and waits for each part to answer.
func (t *Target) startParts(ctx context.Context) (ep target.Endpoints, err error) {
	var (
		brokers = make([]brokerInfo, t.top.Brokers)
		kafkaEP []string
		cqlEP   []string
	)
	// The three stateful systems are independent until the services join them, so they
	// start together: Cassandra's minute-long start hides Kafka's and the brokers'.
	g, gctx := errgroup.WithContext(ctx)
	for i := range brokers {
		g.Go(func() (err error) { brokers[i], err = t.startBroker(gctx, i); return err })
	}
	if !t.cfg.brokerOnly {
		g.Go(func() (err error) { kafkaEP, err = t.startKafka(gctx); return err })
		g.Go(func() (err error) { cqlEP, err = t.startCassandra(gctx); return err })
	}
	if err := g.Wait(); err != nil {
		return ep, err
	}

	ep = target.Endpoints{
		MQTTURLs:     deviceURLs(brokers),
		MQTTUsername: brokers[0].user,
		MQTTPassword: brokers[0].pass,
		KafkaBrokers: kafkaEP,
		KafkaTopic:   t.top.KafkaTopic,
	}
	ep.KafkaDeadLetterTopic = t.dlqTopic()
	if ep.TLS, err = t.clientTLS(); err != nil {
		return ep, err
	}
	if t.sec != nil {
		ep.KafkaSecurity = t.sec.kafka(ep.TLS)
	}
	if t.cfg.services && !t.cfg.brokerOnly {
		if ep.APIURL, err = t.startServices(ctx, brokers); err != nil {
			return ep, err
		}
	}
	if !t.cfg.brokerOnly {
		// Opened after the services so the schema is theirs; the host reaches the nodes
		// through the addresses they advertise (container IPs on the engine's bridge).
		auth, err := t.cqlAuth()
		if err != nil {
			return ep, err
		}
		st, err := cassandra.Open(ctx, cassandra.Config{
			Hosts:       cqlEP,
			Keyspace:    t.cfg.keyspace,
			Replication: t.replication(),
			Consistency: "LOCAL_QUORUM",
			Username:    auth.Username,
			Password:    auth.Password,
			TLS:         auth.TLS,
			Logger:      t.cfg.log,
		})
		if err != nil {
			return ep, fmt.Errorf("open cassandra store: %w", err)
		}
		ep.Store = st
		t.mu.Lock()
		t.store = st
		t.mu.Unlock()
	}
	t.mu.Lock()
	t.cassandraHosts = cqlEP
	t.mu.Unlock()
	return ep, nil
}

// teardownAfterFailure removes what a failed Start left, with a context of its own
// since the start context may be the reason for the failure. Nothing of a failed
// start is worth a graceful stop, so containers are killed at once: the user waits
// for the error until the teardown is done.
func (t *Target) teardownAfterFailure(ctx context.Context) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	t.cfg.log.Info("start failed; removing its containers", "run", t.runID)
	if err := t.stop(sctx, 0); err != nil {
		t.cfg.log.Error("teardown after failed start", "run", t.runID, "err", err)
	}
}

func (t *Target) labels(component string) map[string]string {
	l := map[string]string{LabelManaged: "true", LabelRun: t.runID, LabelComponent: component}
	for k, v := range t.cfg.labels {
		l[k] = v
	}
	return l
}

// run starts one container on the run's network under alias name.
func (t *Target) run(ctx context.Context, name, component string, req tc.ContainerRequest) (*managed, error) {
	req.Name = containerPrefix(t.runID) + name
	req.Labels = t.labels(component)
	req.Networks = []string{t.netName}
	req.NetworkAliases = map[string][]string{t.netName: {name}}
	req.HostConfigModifier = withOpenFiles(req.HostConfigModifier)
	c, err := tc.GenericContainer(ctx, tc.GenericContainerRequest{
		ContainerRequest: req,
		Started:          true,
		Logger:           tcLogger{t.cfg.log},
	})
	// GenericContainer can return a created container together with an error: it must
	// still be removed, so it is recorded either way.
	if c != nil {
		m := &managed{name: name, component: component, c: c}
		t.mu.Lock()
		t.containers = append(t.containers, m)
		t.mu.Unlock()
		if err == nil {
			return m, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, req.Image, err)
	}
	return nil, fmt.Errorf("start %s: no container", name)
}

// ContainerOpenFiles is every container's open-file limit (soft and hard), set
// explicitly rather than inherited from the engine, whose default differs between
// machines (1,024 on some, 1,048,576 on others; 20,000 and not raisable on the
// machines citybench is built on). A broker holds one file per device, so this
// limit bounds a broker's devices (see BrokerDevices).
const ContainerOpenFiles = 20000

// withOpenFiles sets the container's open-file limit after any other host setting.
func withOpenFiles(next func(*container.HostConfig)) func(*container.HostConfig) {
	return func(hc *container.HostConfig) {
		if next != nil {
			next(hc)
		}
		hc.Ulimits = append(hc.Ulimits, &container.Ulimit{Name: "nofile", Soft: ContainerOpenFiles, Hard: ContainerOpenFiles})
	}
}

// hostPort is the loopback address of a container's mapped port.
func hostPort(ctx context.Context, m *managed, port string) (string, error) {
	host, err := m.c.Host(ctx)
	if err != nil {
		return "", fmt.Errorf("%s host: %w", m.name, err)
	}
	p, err := m.c.MappedPort(ctx, port)
	if err != nil {
		return "", fmt.Errorf("%s port %s: %w", m.name, port, err)
	}
	return net.JoinHostPort(host, p.Port()), nil
}

// loopbackOnly binds the listed container ports to 127.0.0.1 only: load tests must
// not open the pipeline to the network. A port given as 0 gets a free port chosen
// now rather than by Docker, which would pick a new one when a fault action
// restarts the container and so invalidate the endpoints the harness holds.
func loopbackOnly(fixed map[string]int) func(*container.HostConfig) {
	return func(hc *container.HostConfig) {
		if hc.PortBindings == nil {
			hc.PortBindings = network.PortMap{}
		}
		for p, host := range fixed {
			port := network.MustParsePort(p)
			if host == 0 {
				host, _ = freePort() // on failure 0 remains: Docker picks, restarts lose the port
			}
			hp := "0"
			if host > 0 {
				hp = strconv.Itoa(host)
			}
			hc.PortBindings[port] = []network.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: hp}}
		}
	}
}

// freePort asks the kernel for a free loopback port. Kafka must advertise its host
// port before it starts, so the port is chosen here rather than by Docker.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Describe says what runs, for the result's metadata.
func (t *Target) Describe() result.Target {
	top := t.top.Map()
	if t.cfg.devices > 0 {
		top["devices_reach_brokers"] = "loopback port mapping"
		if t.top.DirectBrokers(t.cfg.devices) {
			top["devices_reach_brokers"] = "container addresses"
		}
	}
	t.mu.Lock()
	if t.catalog.Flavour != "" {
		top["images"] = string(t.catalog.Flavour)
	}
	t.mu.Unlock()
	return result.Target{
		Kind:      "containers",
		Note:      "local containers on one host: components share its CPUs and memory",
		Topology:  top,
		ClockNote: "all stages timestamped with the host clock; containers share the host kernel's clock",
	}
}

// Components lists component → image.
func (t *Target) Components() map[string]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	cat := t.catalog
	if cat.Images == nil {
		cat = OfflineCatalog()
		if f := Flavour(os.Getenv(EnvImages)); f == Upstream {
			cat = UpstreamCatalog()
		}
	}
	out := map[string]string{
		t.top.Broker:  cat.Image(t.top.Broker),
		CompKafka:     cat.Image(CompKafka),
		CompCassandra: cat.Image(CompCassandra),
	}
	if t.cfg.services {
		out["bridge"] = cat.Image(CompServices)
		out["sink"] = cat.Image(CompServices)
		out["api"] = cat.Image(CompServices)
	}
	return out
}

// Counters reports what the target itself knows: Mosquitto's $SYS counters
// (dropped, received, sent messages; most clients at once) and containers that
// exited or were OOM-killed during the run.
func (t *Target) Counters(ctx context.Context) map[string]int64 {
	out := map[string]int64{}
	t.mu.Lock()
	ep := t.endpoints
	t.mu.Unlock()
	if t.top.Broker == CompMosquitto {
		// A tier's counters add up: most clients at once is then the sum of each
		// broker's maximum.
		for _, u := range ep.MQTTURLs {
			sys, err := brokerSysCounters(ctx, u, ep.TLS, ep.MQTTUsername, ep.MQTTPassword, 3*time.Second)
			if err != nil {
				t.cfg.log.Warn("broker counters unavailable", "broker", u, "err", err)
				out["broker_counter_errors"]++
			}
			for k, v := range sys {
				out[k] += v
			}
		}
	}
	for _, m := range t.snapshot() {
		st, err := m.c.State(ctx)
		if err != nil {
			out["container_state_errors"]++
			continue
		}
		if !st.Running {
			out["containers_not_running"]++
		}
		if st.OOMKilled {
			out["containers_oom_killed"]++
		}
	}
	return out
}

func (t *Target) snapshot() []*managed {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*managed(nil), t.containers...)
}

// Containers returns alias → container id of every running part, for fault actions
// (pause, stop) and resource sampling.
func (t *Target) Containers() map[string]string {
	out := map[string]string{}
	for _, m := range t.snapshot() {
		out[m.name] = m.c.GetContainerID()
	}
	return out
}

// Stop saves every container's log into the run folder, removes containers and the
// network, then verifies nothing of this run is left. Safe to call more than once
// and after a failed Start. Each container gets stopGrace to shut down cleanly.
func (t *Target) Stop(ctx context.Context) error { return t.stop(ctx, stopGrace) }

// stopGrace is how long a container may take to stop before it is killed.
const stopGrace = 5 * time.Second

func (t *Target) stop(ctx context.Context, grace time.Duration) error {
	t.mu.Lock()
	dc := t.docker
	ms := t.containers
	st := t.store
	px := t.proxies
	t.containers = nil
	t.store = nil
	t.proxies = nil
	t.mu.Unlock()
	px.close()
	var errs []error
	if st != nil {
		if err := st.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
	}
	if dc == nil {
		return errors.Join(errs...) // Start never reached the engine
	}
	if t.cfg.runDir != "" {
		if err := saveLogs(ctx, filepath.Join(t.cfg.runDir, "containers"), ms); err != nil {
			errs = append(errs, err)
		}
	}
	var wg sync.WaitGroup
	var emu sync.Mutex
	for _, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.c.Terminate(ctx, tc.StopTimeout(grace)); err != nil {
				emu.Lock()
				errs = append(errs, fmt.Errorf("terminate %s: %w", m.name, err))
				emu.Unlock()
			}
		}()
	}
	wg.Wait()
	// Whatever Terminate missed (a container created but never tracked, the network)
	// goes by label.
	if err := prune(ctx, dc, runFilter(t.runID)); err != nil {
		errs = append(errs, err)
	}
	left, err := leftovers(ctx, dc, runFilter(t.runID))
	if err != nil {
		errs = append(errs, err)
	} else if len(left) > 0 {
		errs = append(errs, fmt.Errorf("after teardown still present: %s", strings.Join(left, ", ")))
	}
	if len(errs) == 0 {
		t.mu.Lock()
		t.stopped = true
		t.mu.Unlock()
		t.cfg.log.Info("containers target removed", "run", t.runID, "containers", len(ms))
	}
	return errors.Join(errs...)
}

func saveLogs(ctx context.Context, dir string, ms []*managed) error {
	if len(ms) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("container log folder: %w", err)
	}
	var errs []error
	for _, m := range ms {
		if err := saveLog(ctx, filepath.Join(dir, m.name+".log"), m); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func saveLog(ctx context.Context, path string, m *managed) error {
	rc, err := m.c.Logs(ctx)
	if err != nil {
		return fmt.Errorf("logs of %s: %w", m.name, err)
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("save logs of %s: %w", m.name, err)
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return fmt.Errorf("save logs of %s: %w", m.name, err)
	}
	return f.Close()
}

// tcLogger routes testcontainers-go's chatter to slog at debug level.
type tcLogger struct{ log *slog.Logger }

func (l tcLogger) Printf(format string, v ...any) {
	l.log.Debug(strings.TrimSpace(fmt.Sprintf(format, v...)), "source", "testcontainers")
}
