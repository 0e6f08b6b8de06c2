package testcontainers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/moby/moby/client"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/citybench/citybench/harness/target"
	"github.com/citybench/citybench/scenarios"
)

var _ target.FaultInjector = (*Target)(nil)

// CheckFault says whether this target can perform f. Process faults act on any
// container of the topology through the Docker API; network faults need the
// Toxiproxy links the target places when the scenario declares one.
func (t *Target) CheckFault(f scenarios.Fault) error {
	ft, err := scenarios.ParseFaultTarget(f.Target)
	if err != nil {
		return err
	}
	if t.cfg.brokerOnly && ft.Kind != scenarios.CompBroker {
		return fmt.Errorf("this target runs the broker only")
	}
	if scenarios.IsNetworkAction(f.Action) {
		return t.checkNetworkFault(f, ft)
	}
	if ft.Kind == scenarios.CompBroker {
		if err := t.checkBrokerFault(f); err != nil {
			return err
		}
	}
	if ft.Kind == scenarios.CompKafka && ft.Role == "" && ft.Index > t.top.KafkaBrokers {
		return fmt.Errorf("the topology has %d Kafka brokers", t.top.KafkaBrokers)
	}
	return nil
}

// PrepareFault resolves f's component (the controller or a partition's leader is
// asked of the cluster now) and returns the action.
func (t *Target) PrepareFault(ctx context.Context, f scenarios.Fault) (target.FaultAction, error) {
	ft, err := scenarios.ParseFaultTarget(f.Target)
	if err != nil {
		return target.FaultAction{}, err
	}
	if scenarios.IsNetworkAction(f.Action) {
		return t.prepareNetworkFault(ctx, f, ft)
	}
	if f.Action == scenarios.ActionStall {
		return target.FaultAction{Component: "store", Act: t.pauseStore, Heal: t.unpauseStore}, nil
	}
	name, err := t.resolve(ctx, ft, f.Partition)
	if err != nil {
		return target.FaultAction{}, err
	}
	m, dc, err := t.container(name)
	if err != nil {
		return target.FaultAction{}, err
	}
	id := m.c.GetContainerID()
	start := func(ctx context.Context) error {
		if _, err := dc.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		return nil
	}
	a := target.FaultAction{Component: name, Heal: start}
	switch f.Action {
	case scenarios.ActionKill:
		a.Act = func(ctx context.Context) error {
			_, err := dc.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "SIGKILL"})
			return wrap("kill "+name, err)
		}
	case scenarios.ActionStop:
		grace := int(scenarios.DefaultStopGrace / time.Second)
		if f.Grace > 0 {
			grace = max(int(f.Grace.D()/time.Second), 1)
		}
		a.Act = func(ctx context.Context) error {
			_, err := dc.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &grace})
			return wrap("stop "+name, err)
		}
	case scenarios.ActionRestart:
		grace := int(scenarios.DefaultStopGrace / time.Second)
		a.Heal = nil
		a.Act = func(ctx context.Context) error {
			_, err := dc.ContainerRestart(ctx, id, client.ContainerRestartOptions{Timeout: &grace})
			return wrap("restart "+name, err)
		}
	case scenarios.ActionPause:
		a.Act = func(ctx context.Context) error {
			_, err := dc.ContainerPause(ctx, id, client.ContainerPauseOptions{})
			return wrap("pause "+name, err)
		}
		a.Heal = func(ctx context.Context) error {
			_, err := dc.ContainerUnpause(ctx, id, client.ContainerUnpauseOptions{})
			return wrap("unpause "+name, err)
		}
	default:
		return a, fmt.Errorf("action %q is not known to the containers target", f.Action)
	}
	return a, nil
}

func wrap(what string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// resolve maps a fault target to a container alias.
func (t *Target) resolve(ctx context.Context, ft scenarios.FaultTarget, partition int) (string, error) {
	switch ft.Kind {
	case scenarios.CompBroker:
		return "mqtt", nil
	case scenarios.CompKafka:
		switch ft.Role {
		case scenarios.RoleController:
			id, err := t.kafkaController(ctx)
			return "kafka-" + strconv.Itoa(int(id)), err
		case scenarios.RoleLeader:
			id, err := t.kafkaLeader(ctx, partition)
			return "kafka-" + strconv.Itoa(int(id)), err
		}
	}
	return ft.String(), nil
}

// kafkaClient talks to the cluster through its host listeners.
func (t *Target) kafkaClient() (*kgo.Client, error) {
	t.mu.Lock()
	brokers := t.endpoints.KafkaBrokers
	t.mu.Unlock()
	if len(brokers) == 0 {
		return nil, errors.New("kafka is not running")
	}
	return kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RequestRetries(3))
}

// kafkaController asks the KRaft quorum for its leader: the active controller
// (every node is broker and controller, node ids are kafka-N's N).
func (t *Target) kafkaController(ctx context.Context) (int32, error) {
	cl, err := t.kafkaClient()
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	req := kmsg.NewPtrDescribeQuorumRequest()
	topic := kmsg.NewDescribeQuorumRequestTopic()
	topic.Topic = "__cluster_metadata"
	p := kmsg.NewDescribeQuorumRequestTopicPartition()
	topic.Partitions = append(topic.Partitions, p)
	req.Topics = append(req.Topics, topic)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, fmt.Errorf("describe kafka quorum: %w", err)
	}
	if len(resp.Topics) == 0 || len(resp.Topics[0].Partitions) == 0 {
		return 0, errors.New("describe kafka quorum: empty answer")
	}
	leader := resp.Topics[0].Partitions[0].LeaderID
	if leader < 1 {
		return 0, fmt.Errorf("kafka quorum has no leader (id %d)", leader)
	}
	return leader, nil
}

// kafkaLeader is the broker leading partition of the readings topic now.
func (t *Target) kafkaLeader(ctx context.Context, partition int) (int32, error) {
	cl, err := t.kafkaClient()
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(t.top.KafkaTopic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, fmt.Errorf("kafka metadata: %w", err)
	}
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			if int(p.Partition) == partition && p.Leader >= 1 {
				return p.Leader, nil
			}
		}
	}
	return 0, fmt.Errorf("partition %d of %s has no leader", partition, t.top.KafkaTopic)
}

func (t *Target) cassandraNodes() []string {
	var nodes []string
	for _, m := range t.snapshot() {
		if m.component == CompCassandra {
			nodes = append(nodes, m.name)
		}
	}
	return nodes
}

// pauseStore and unpauseStore freeze and thaw every Cassandra node at once.
func (t *Target) pauseStore(ctx context.Context) error {
	return t.eachCassandra(ctx, func(ctx context.Context, dc *client.Client, id string) error {
		_, err := dc.ContainerPause(ctx, id, client.ContainerPauseOptions{})
		return err
	})
}

func (t *Target) unpauseStore(ctx context.Context) error {
	return t.eachCassandra(ctx, func(ctx context.Context, dc *client.Client, id string) error {
		_, err := dc.ContainerUnpause(ctx, id, client.ContainerUnpauseOptions{})
		return err
	})
}

func (t *Target) eachCassandra(ctx context.Context, fn func(context.Context, *client.Client, string) error) error {
	nodes := t.cassandraNodes()
	if len(nodes) == 0 {
		return errors.New("no cassandra node running")
	}
	var errs []error
	for _, n := range nodes {
		m, dc, err := t.container(n)
		if err == nil {
			err = fn(ctx, dc, m.c.GetContainerID())
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}
