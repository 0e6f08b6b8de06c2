package scenarios

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Fault is one timed action on the system under test, in the spirit of a Jepsen
// nemesis: it starts At (an offset on the run's time line, warm-up included),
// holds for Duration and then heals (a killed or stopped component is started
// again, a paused one thawed, a network fault removed). restart heals by itself
// and takes no duration.
type Fault struct {
	At       Duration `yaml:"at"`
	Duration Duration `yaml:"duration,omitempty"`
	Action   string   `yaml:"action"`
	// Target names a component of the topology: broker, kafka-N, kafka-controller,
	// kafka-leader (with Partition), cassandra-N, bridge-N, sink-N, api, store.
	Target string `yaml:"target"`
	// Peer is the other end of the link a network fault acts on (a component kind
	// or instance: broker, kafka, store, bridge-1 …); empty means every link of
	// Target.
	Peer string `yaml:"peer,omitempty"`
	// Partition picks the partition whose leader kafka-leader means (default 0).
	Partition int `yaml:"partition,omitempty"`
	// Latency and Jitter parameterise action latency.
	Latency Duration `yaml:"latency,omitempty"`
	Jitter  Duration `yaml:"jitter,omitempty"`
	// RateKBps caps a link's bandwidth (action bandwidth), in KB/s.
	RateKBps int `yaml:"rate_kbps,omitempty"`
	// Grace is how long stop waits after SIGTERM before SIGKILL (default 10s).
	Grace Duration `yaml:"grace,omitempty"`
}

// Fault actions.
const (
	ActionKill      = "kill"      // SIGKILL; started again when the fault heals
	ActionStop      = "stop"      // graceful stop (SIGTERM, then SIGKILL after grace); started at heal
	ActionRestart   = "restart"   // graceful stop and start at once; no duration
	ActionPause     = "pause"     // freeze every process (cgroup freezer); thawed at heal
	ActionLatency   = "latency"   // network: added latency ± jitter on the component's links
	ActionReset     = "reset"     // network: every connection on the links is reset
	ActionBandwidth = "bandwidth" // network: the links are capped at rate_kbps
	ActionPartition = "partition" // network: the component is cut off from its peers
	ActionStall     = "stall"     // the store stops acknowledging writes
)

// FaultActions lists every action, in the order the docs explain them.
var FaultActions = []string{ActionKill, ActionStop, ActionRestart, ActionPause, ActionLatency, ActionReset, ActionBandwidth, ActionPartition, ActionStall}

// IsNetworkAction reports whether action acts on links rather than on a process.
func IsNetworkAction(action string) bool {
	switch action {
	case ActionLatency, ActionReset, ActionBandwidth, ActionPartition:
		return true
	}
	return false
}

// Component kinds a fault target names.
const (
	CompBroker    = "broker"
	CompKafka     = "kafka"
	CompCassandra = "cassandra"
	CompBridge    = "bridge"
	CompSink      = "sink"
	CompAPI       = "api"
	CompStore     = "store"
)

// Kafka broker roles a target can name instead of an index.
const (
	RoleController = "controller"
	RoleLeader     = "leader"
)

// DefaultStopGrace is how long stop waits for a graceful exit.
const DefaultStopGrace = 10 * time.Second

// FaultTarget is a parsed fault target.
type FaultTarget struct {
	Kind  string // one of the Comp constants
	Index int    // 1-based instance (kafka-2, bridge-1); 0 when Kind has one instance or Role is set
	Role  string // kafka only: RoleController or RoleLeader (resolved when the fault starts)
}

// Instance is the component's name in the topology (kafka-2, broker, store) or,
// for a role, kafka-controller / kafka-leader.
func (t FaultTarget) String() string {
	switch {
	case t.Role != "":
		return t.Kind + "-" + t.Role
	case t.Index > 0:
		return t.Kind + "-" + strconv.Itoa(t.Index)
	}
	return t.Kind
}

var targetRE = regexp.MustCompile(`^(broker|api|store|kafka|cassandra|bridge|sink)(?:-([0-9]+|controller|leader))?$`)

// ParseFaultTarget reads a target name.
func ParseFaultTarget(name string) (FaultTarget, error) {
	m := targetRE.FindStringSubmatch(name)
	if m == nil {
		return FaultTarget{}, fmt.Errorf("unknown target %q (want broker, kafka-N, kafka-controller, kafka-leader, cassandra-N, bridge-N, sink-N, api or store)", name)
	}
	t := FaultTarget{Kind: m[1]}
	suffix := m[2]
	switch t.Kind {
	case CompBroker, CompAPI, CompStore:
		if suffix != "" {
			return t, fmt.Errorf("target %q: %s has a single instance; write %q", name, t.Kind, t.Kind)
		}
		return t, nil
	}
	switch suffix {
	case "":
		return t, fmt.Errorf("target %q: name the instance, e.g. %s-1", name, t.Kind)
	case RoleController, RoleLeader:
		if t.Kind != CompKafka {
			return t, fmt.Errorf("target %q: only kafka has a %s", name, suffix)
		}
		t.Role = suffix
		return t, nil
	}
	n, err := strconv.Atoi(suffix)
	if err != nil || n < 1 {
		return t, fmt.Errorf("target %q: instances count from 1", name)
	}
	t.Index = n
	return t, nil
}

// links are the component pairs that talk to each other in the reference
// pipeline; a network fault acts on one of them.
var links = [][2]string{
	{CompBridge, CompBroker}, {CompBridge, CompKafka}, {CompSink, CompKafka}, {CompSink, CompStore}, {CompAPI, CompStore},
}

// storeKind folds cassandra into the store for link purposes.
func storeKind(kind string) string {
	if kind == CompCassandra {
		return CompStore
	}
	return kind
}

// HasLink reports whether components a and b (kinds) talk to each other.
func HasLink(a, b string) bool {
	a, b = storeKind(a), storeKind(b)
	for _, l := range links {
		if (l[0] == a && l[1] == b) || (l[0] == b && l[1] == a) {
			return true
		}
	}
	return false
}

// FaultError is a problem with faults[i].field, named with its file and line.
// Targets use it to refuse a fault they cannot perform.
func (s *Scenario) FaultError(i int, field, format string, args ...any) *FieldError {
	path := fmt.Sprintf("faults[%d]", i)
	if field != "" {
		path += "." + field
	}
	return &FieldError{File: s.File, Line: s.lineOf(path), Path: path, Msg: fmt.Sprintf(format, args...)}
}

func (v *validator) faults() {
	type window struct {
		i        int
		key      string
		from, to time.Duration
	}
	var windows []window
	total := v.s.Total()
	for i := range v.s.Faults {
		f := &v.s.Faults[i]
		p := fmt.Sprintf("faults[%d]", i)
		t, ok := v.fault(p, f)
		if !ok {
			continue
		}
		end := f.At.D() + f.Duration.D()
		if total > 0 && end > total {
			field := ".duration"
			if f.At.D() >= total {
				field = ".at"
			}
			v.add(p+field, "fault ends at %s, past the run's end at %s (warm-up plus phases)", end, total)
		}
		// A restart occupies its component for a moment; count it as a second.
		to := max(end, f.At.D()+time.Second)
		for _, key := range v.faultKeys(t, f) {
			for _, w := range windows {
				if keysOverlap(w.key, key) && f.At.D() < w.to && w.from < to {
					on := key
					if strings.Contains(on, "*") {
						on = w.key
					}
					v.add(p+".at", "overlaps faults[%d] on %s (%s–%s): one fault per component at a time", w.i, on, w.from, w.to)
				}
			}
			windows = append(windows, window{i, key, f.At.D(), to})
		}
	}
}

// fault checks one entry on its own and returns its parsed target.
func (v *validator) fault(p string, f *Fault) (FaultTarget, bool) {
	if f.At < 0 {
		v.add(p+".at", "must not be negative, got %s", f.At)
	}
	if !slices.Contains(FaultActions, f.Action) {
		v.add(p+".action", "unknown action %q (want %s)", f.Action, strings.Join(FaultActions, ", "))
		return FaultTarget{}, false
	}
	t, err := ParseFaultTarget(f.Target)
	if err != nil {
		v.add(p+".target", "%v", err)
		return t, false
	}
	ok := v.faultInstance(p+".target", t)
	switch {
	case f.Action == ActionRestart && f.Duration != 0:
		v.add(p+".duration", "restart heals at once and takes no duration; use stop or kill for a longer outage")
	case f.Action != ActionRestart && f.Duration <= 0:
		v.add(p+".duration", "%s needs a positive duration (how long the fault holds before it heals)", f.Action)
	}
	switch {
	case f.Action == ActionStall && t.Kind != CompStore:
		v.add(p+".target", "stall acts on the store; write target: store (or pause a cassandra-N node)")
		ok = false
	case f.Action != ActionStall && t.Kind == CompStore && !IsNetworkAction(f.Action):
		v.add(p+".target", "%s acts on a process; name a node (cassandra-N) rather than the store", f.Action)
		ok = false
	}
	v.faultParams(p, f, t)
	if t.Role == "" && f.Partition != 0 {
		v.add(p+".partition", "partition applies only to target kafka-leader")
	} else if f.Partition < 0 || (t.Role == RoleLeader && f.Partition >= v.s.Target.Partitions && v.s.Target.Partitions > 0) {
		v.add(p+".partition", "partition %d does not exist (the topic has %d)", f.Partition, v.s.Target.Partitions)
	}
	return t, ok
}

// faultInstance checks an instance number against the topology.
func (v *validator) faultInstance(path string, t FaultTarget) bool {
	if t.Index == 0 {
		return true
	}
	n := map[string]int{CompKafka: v.s.Target.KafkaBrokers, CompCassandra: v.s.Target.CassandraNodes, CompBridge: v.s.Target.BridgeReplicas, CompSink: v.s.Target.SinkReplicas}[t.Kind]
	if t.Index > n {
		v.add(path, "%s: the topology has %d %s instance(s)", t, n, t.Kind)
		return false
	}
	return true
}

// faultParams checks each parameter belongs to the action and is sensible.
func (v *validator) faultParams(p string, f *Fault, t FaultTarget) {
	only := func(field, action string, set bool) {
		if set && f.Action != action {
			v.add(p+"."+field, "%s applies only to action %s", field, action)
		}
	}
	only("latency", ActionLatency, f.Latency != 0)
	only("jitter", ActionLatency, f.Jitter != 0)
	only("rate_kbps", ActionBandwidth, f.RateKBps != 0)
	only("grace", ActionStop, f.Grace != 0)
	if f.Action == ActionLatency && f.Latency <= 0 {
		v.add(p+".latency", "latency needs a positive latency, e.g. 200ms")
	}
	if f.Jitter < 0 || f.Grace < 0 {
		v.add(p, "jitter and grace must not be negative")
	}
	if f.Action == ActionBandwidth && f.RateKBps <= 0 {
		v.add(p+".rate_kbps", "bandwidth needs a positive rate_kbps")
	}
	if f.Peer != "" && !IsNetworkAction(f.Action) {
		v.add(p+".peer", "peer applies only to network faults (latency, reset, bandwidth, partition)")
		return
	}
	if !IsNetworkAction(f.Action) {
		return
	}
	if f.Peer == "" {
		if !slices.ContainsFunc(links, func(l [2]string) bool { return l[0] == storeKind(t.Kind) || l[1] == storeKind(t.Kind) }) {
			v.add(p+".target", "%s has no links to fault", t)
		}
		return
	}
	peer, err := ParseFaultTarget(f.Peer)
	if err != nil {
		// A peer may name a kind with several instances without an index: all of them.
		peer = FaultTarget{Kind: f.Peer}
		if !targetRE.MatchString(f.Peer + "-1") {
			v.add(p+".peer", "%v", err)
			return
		}
	}
	if !HasLink(t.Kind, peer.Kind) {
		v.add(p+".peer", "%s and %s do not talk to each other (links: bridge–broker, bridge–kafka, sink–kafka, sink–store, api–store)", t.Kind, peer.Kind)
	}
}

// faultKeys are the components a fault occupies, for the overlap check. A
// network fault occupies its link; a kafka role may be any broker.
func (v *validator) faultKeys(t FaultTarget, f *Fault) []string {
	if IsNetworkAction(f.Action) {
		peer := f.Peer
		if peer == "" {
			peer = "*"
		}
		return []string{"link " + t.String() + "–" + peer}
	}
	if t.Role != "" {
		return []string{"kafka-*"}
	}
	if t.Kind == CompStore {
		return []string{"cassandra-*"}
	}
	return []string{t.String()}
}

// keysOverlap: equal keys, a wildcard instance matching any of its kind, and a
// link fault without a peer matching every link of its component.
func keysOverlap(a, b string) bool {
	if a == b {
		return true
	}
	match := func(w, k string) bool {
		prefix, ok := strings.CutSuffix(w, "*")
		return ok && strings.HasPrefix(k, prefix)
	}
	return match(a, b) || match(b, a)
}
