package testcontainers

// Network faults go through Toxiproxy (github.com/Shopify/toxiproxy/v2), run as a
// library inside the harness process: no extra image to build or ship, and its
// toxics (latency with jitter, bandwidth, reset_peer, timeout) are the maintained
// implementation of exactly the faults a scenario names. Proxies listen on the
// run network's gateway address, which the containers reach and the host owns;
// they are placed only on the links a scenario's network faults name — a run
// without network faults has no proxy in any path. Kafka gets one more listener
// (PROXIED) advertised at its proxy, so a client that bootstraps through the
// proxy is also sent through it for every broker; the harness's own taps keep
// the direct listeners and measure the pipeline, not the proxy.
//
// The proxied links are the bridge's two (to the broker and to Kafka), with one
// bridge replica: those are the links the catalog's network faults act on.
// Others are refused by name at validation.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/citybench/citybench/harness/target"
	"github.com/citybench/citybench/pipeline/service"
	"github.com/citybench/citybench/scenarios"
)

// Proxied link names: the bridge's link to the broker and to each Kafka broker.
const (
	linkBroker = "mqtt"
	linkKafka  = "kafka"
)

// kafkaProxiedPort is the extra Kafka listener's container port.
const kafkaProxiedPort = "9094/tcp"

// WithNetworkFaults places Toxiproxy on the links faults act on (network faults
// only; others need no proxy). Call it with the scenario's faults.
func WithNetworkFaults(faults []scenarios.Fault) Option {
	return func(c *config) {
		for _, f := range faults {
			if !scenarios.IsNetworkAction(f.Action) {
				continue
			}
			if c.proxied == nil {
				c.proxied = map[string]bool{}
			}
			for _, l := range faultLinks(f) {
				c.proxied[l] = true
			}
		}
	}
}

// faultLinks are the proxied link kinds f acts on (empty when none is proxied).
func faultLinks(f scenarios.Fault) []string {
	t, err := scenarios.ParseFaultTarget(f.Target)
	if err != nil {
		return nil
	}
	peer := strings.SplitN(f.Peer, "-", 2)[0]
	switch {
	case t.Kind == scenarios.CompBridge && peer == "":
		return []string{linkBroker, linkKafka}
	case t.Kind == scenarios.CompBridge && peer == scenarios.CompBroker, t.Kind == scenarios.CompBroker && (peer == "" || peer == scenarios.CompBridge):
		return []string{linkBroker}
	case t.Kind == scenarios.CompBridge && peer == scenarios.CompKafka, t.Kind == scenarios.CompKafka && peer == scenarios.CompBridge:
		return []string{linkKafka}
	}
	return nil
}

// proxies is the in-process Toxiproxy and the proxies of this run, by name
// (mqtt, kafka-1 …).
type proxies struct {
	server  *toxiproxy.ApiServer
	gateway string
	mu      sync.Mutex
	byName  map[string]*toxiproxy.Proxy
	ports   map[string]int // listen port on the gateway, chosen before the upstream starts
}

func newProxies(gateway string) *proxies {
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	return &proxies{server: srv, gateway: gateway, byName: map[string]*toxiproxy.Proxy{}, ports: map[string]int{}}
}

// reserve picks the gateway port proxy name will listen on and returns its address.
func (p *proxies) reserve(name string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(p.gateway, "0"))
	if err != nil {
		return "", fmt.Errorf("toxiproxy %s: listen on the network gateway %s: %w", name, p.gateway, err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	p.mu.Lock()
	p.ports[name] = port
	p.mu.Unlock()
	return net.JoinHostPort(p.gateway, strconv.Itoa(port)), nil
}

// add starts proxy name from its reserved address to upstream.
func (p *proxies) add(name, upstream string) error {
	p.mu.Lock()
	port, ok := p.ports[name]
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("toxiproxy %s: no reserved port", name)
	}
	px := toxiproxy.NewProxy(p.server, name, net.JoinHostPort(p.gateway, strconv.Itoa(port)), upstream)
	if err := p.server.Collection.Add(px, true); err != nil {
		return fmt.Errorf("toxiproxy %s → %s: %w", name, upstream, err)
	}
	p.mu.Lock()
	p.byName[name] = px
	p.mu.Unlock()
	return nil
}

func (p *proxies) close() {
	if p == nil {
		return
	}
	_ = p.server.Collection.Clear()
}

// toxics returns the Toxiproxy toxics (JSON) that perform f.
func toxics(f scenarios.Fault) []string {
	ms := func(d scenarios.Duration) int64 { return d.D().Milliseconds() }
	both := func(typ, attrs string) []string {
		return []string{
			fmt.Sprintf(`{"name":"%s-up","type":"%s","stream":"upstream","toxicity":1,"attributes":%s}`, typ, typ, attrs),
			fmt.Sprintf(`{"name":"%s-down","type":"%s","stream":"downstream","toxicity":1,"attributes":%s}`, typ, typ, attrs),
		}
	}
	switch f.Action {
	case scenarios.ActionLatency:
		// One way, as netem on the sender's egress: requests wait, answers do not.
		return []string{fmt.Sprintf(`{"name":"latency-up","type":"latency","stream":"upstream","toxicity":1,"attributes":{"latency":%d,"jitter":%d}}`, ms(f.Latency), ms(f.Jitter))}
	case scenarios.ActionBandwidth:
		return both("bandwidth", fmt.Sprintf(`{"rate":%d}`, f.RateKBps))
	case scenarios.ActionReset:
		return []string{`{"name":"reset-up","type":"reset_peer","stream":"upstream","toxicity":1,"attributes":{"timeout":0}}`}
	case scenarios.ActionPartition:
		// No byte passes either way and no connection is closed: what a dropped
		// route looks like to TCP, whose retransmissions deliver the held bytes
		// once it heals. Toxiproxy's timeout toxic would drop bytes mid-stream
		// (corrupting it); a latency of an hour holds them and releases them,
		// in order, when the toxic is removed.
		return both("latency", `{"latency":3600000,"jitter":0}`)
	}
	return nil
}

func (t *Target) checkNetworkFault(f scenarios.Fault, ft scenarios.FaultTarget) error {
	links := faultLinks(f)
	switch {
	case len(links) == 0:
		return errors.New("network faults act on the bridge's links only (bridge–broker, bridge–kafka)")
	case t.top.Brokers != 1:
		return fmt.Errorf("network faults place one proxy on each bridge link and support one broker, but the topology has %d — set target.brokers: 1", t.top.Brokers)
	case t.top.BridgeReplicas != 1:
		return fmt.Errorf("network faults need one bridge replica (the topology has %d)", t.top.BridgeReplicas)
	case t.top.Security == scenarios.SecurityTLS:
		// The broker's certificate names mqtt, not the proxy, and the proxied Kafka
		// listener is plaintext while security tls makes every Kafka client SASL_SSL.
		return errors.New("network faults are not supported with security tls (the proxies would sit outside the TLS and SASL the profile sets up)")
	}
	for _, l := range links {
		if !t.cfg.proxied[l] {
			return fmt.Errorf("link bridge–%s has no proxy: build the target WithNetworkFaults(scenario faults)", l)
		}
	}
	return nil
}

// prepareNetworkFault names the proxies f acts on; Act adds the toxics, Heal
// removes them.
func (t *Target) prepareNetworkFault(ctx context.Context, f scenarios.Fault, ft scenarios.FaultTarget) (target.FaultAction, error) {
	t.mu.Lock()
	px := t.proxies
	t.mu.Unlock()
	if px == nil {
		return target.FaultAction{}, errors.New("no proxies running")
	}
	var names []string
	for _, l := range faultLinks(f) {
		if l == linkBroker {
			names = append(names, linkBroker)
			continue
		}
		switch {
		case ft.Kind == scenarios.CompKafka:
			name, err := t.resolve(ctx, ft, f.Partition)
			if err != nil {
				return target.FaultAction{}, err
			}
			names = append(names, name)
		case strings.HasPrefix(f.Peer, "kafka-"):
			names = append(names, f.Peer)
		default:
			for i := range t.top.KafkaBrokers {
				names = append(names, "kafka-"+strconv.Itoa(i+1))
			}
		}
	}
	var chosen []*toxiproxy.Proxy
	px.mu.Lock()
	for _, n := range names {
		if p := px.byName[n]; p != nil {
			chosen = append(chosen, p)
		}
	}
	px.mu.Unlock()
	if len(chosen) != len(names) {
		return target.FaultAction{}, fmt.Errorf("proxies %v not all running", names)
	}
	specs := toxics(f)
	return target.FaultAction{
		Component: "bridge-1 ↔ " + strings.Join(names, ","),
		Act: func(context.Context) error {
			for _, p := range chosen {
				for _, s := range specs {
					if _, err := p.Toxics.AddToxicJson(strings.NewReader(s)); err != nil {
						return fmt.Errorf("toxic on %s: %w", p.Name, err)
					}
				}
			}
			return nil
		},
		Heal: func(ctx context.Context) error {
			for _, p := range chosen {
				p.Toxics.ResetToxics(ctx)
			}
			return nil
		},
	}, nil
}

// startProxies starts Toxiproxy on the run network's gateway address.
func (t *Target) startProxies(ctx context.Context, dc *client.Client) error {
	res, err := dc.NetworkInspect(ctx, t.netName, client.NetworkInspectOptions{})
	if err != nil {
		return fmt.Errorf("inspect network %s: %w", t.netName, err)
	}
	var gw string
	for _, c := range res.Network.IPAM.Config {
		if c.Gateway.IsValid() && c.Gateway.Is4() {
			gw = c.Gateway.String()
		}
	}
	if gw == "" {
		return fmt.Errorf("network %s has no IPv4 gateway for the fault proxies", t.netName)
	}
	t.mu.Lock()
	t.proxies = newProxies(gw)
	t.mu.Unlock()
	t.cfg.log.Info("fault proxies (toxiproxy, in process)", "gateway", gw, "links", t.cfg.proxied)
	return nil
}

// proxyKafka gives broker name a PROXIED listener advertised at its proxy.
func (t *Target) proxyKafka(name string, env map[string]string, ports map[string]int) error {
	addr, err := t.proxies.reserve(name)
	if err != nil {
		return err
	}
	hostPort, err := freePort()
	if err != nil {
		return err
	}
	ports[kafkaProxiedPort] = hostPort
	env["KAFKA_LISTENERS"] += ",PROXIED://:9094"
	env["KAFKA_ADVERTISED_LISTENERS"] += ",PROXIED://" + addr
	env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"] += ",PROXIED:PLAINTEXT"
	return t.proxies.add(name, net.JoinHostPort("127.0.0.1", strconv.Itoa(hostPort)))
}

// proxyBridge points the bridge at the proxies of its links.
func (t *Target) proxyBridge(broker brokerInfo, env map[string]string) error {
	if t.proxies == nil {
		return nil
	}
	if t.cfg.proxied[linkBroker] {
		addr, err := t.proxies.reserve(linkBroker)
		if err != nil {
			return err
		}
		if err := t.proxies.add(linkBroker, strings.TrimPrefix(broker.hostURL, "tcp://")); err != nil {
			return err
		}
		env[service.EnvMQTTURL] = "tcp://" + addr
	}
	if t.cfg.proxied[linkKafka] {
		var addrs []string
		for i := range t.top.KafkaBrokers {
			name := "kafka-" + strconv.Itoa(i+1)
			t.proxies.mu.Lock()
			port := t.proxies.ports[name]
			t.proxies.mu.Unlock()
			addrs = append(addrs, net.JoinHostPort(t.proxies.gateway, strconv.Itoa(port)))
		}
		env[service.EnvKafkaBrokers] = strings.Join(addrs, ",")
	}
	return nil
}
