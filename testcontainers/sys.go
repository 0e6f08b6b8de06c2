package testcontainers

import (
	"context"
	"crypto/tls"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// mosquittoSys maps Mosquitto's $SYS topics to counter names. Dropped messages are
// the broker-side loss a run must report (the queue limits are why they happen).
var mosquittoSys = map[string]string{
	"$SYS/broker/publish/messages/dropped": "broker_messages_dropped",
	"$SYS/broker/messages/received":        "broker_messages_received",
	"$SYS/broker/messages/sent":            "broker_messages_sent",
	"$SYS/broker/clients/maximum":          "broker_clients_maximum",
}

// brokerSysCounters reads Mosquitto's retained $SYS values (published every
// sys_interval seconds) through a real client, waiting at most wait.
func brokerSysCounters(ctx context.Context, url string, tlsCfg *tls.Config, user, pass string, wait time.Duration) (map[string]int64, error) {
	opts := mqtt.NewClientOptions().AddBroker(url).
		SetClientID(fmt.Sprintf("citybench-sys-%d", time.Now().UnixNano())).
		SetConnectTimeout(5 * time.Second).SetAutoReconnect(false)
	if tlsCfg != nil {
		opts.SetTLSConfig(tlsCfg)
	}
	if user != "" {
		opts.SetUsername(user).SetPassword(pass)
	}
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("sys counters: connect: %v", tok.Error())
	}
	defer c.Disconnect(100)

	var mu sync.Mutex
	out := map[string]int64{}
	done := make(chan struct{})
	filters := map[string]byte{}
	for topic := range mosquittoSys {
		filters[topic] = 0
	}
	tok := c.SubscribeMultiple(filters, func(_ mqtt.Client, m mqtt.Message) {
		name, ok := mosquittoSys[m.Topic()]
		if !ok {
			return
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(m.Payload())), 10, 64)
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		out[name] = v
		if len(out) == len(mosquittoSys) {
			select {
			case <-done:
			default:
				close(done)
			}
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("sys counters: subscribe: %v", tok.Error())
	}
	select {
	case <-done:
	case <-time.After(wait):
	case <-ctx.Done():
	}
	mu.Lock()
	defer mu.Unlock()
	res := make(map[string]int64, len(out))
	for k, v := range out {
		res[k] = v
	}
	return res, nil
}
