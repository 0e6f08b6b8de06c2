package downlink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/citybench/citybench/harness/schedule"
	"github.com/citybench/citybench/pipeline/topics"
)

// Broker is where the commander connects: the devices' brokers, each command
// going to the broker its device is connected to.
type Broker struct {
	URLs               []string
	Username, Password string
	TLS                *tls.Config
}

// Commander is the harness's MQTT client that sends the plan's commands and
// watches the acknowledgements (and severity reports) come back.
type Commander struct {
	broker  Broker
	plan    *Plan
	rec     *Recorder
	log     *slog.Logger
	clients []mqtt.Client // one per broker URL
	tokens  chan mqtt.Token
	checked sync.WaitGroup
	stop    sync.Once
}

// ackQuiet is how long acknowledgements may stop arriving before Stop gives up
// waiting for the rest: a device answers within milliseconds of receipt.
const ackQuiet = 2 * time.Second

// NewCommander prepares the commander; Start connects it.
func NewCommander(b Broker, p *Plan, rec *Recorder, log *slog.Logger) *Commander {
	return &Commander{broker: b, plan: p, rec: rec, log: log, tokens: make(chan mqtt.Token, 1024)}
}

// Start connects to every broker and subscribes to the ack topics (and the
// control topics of severity-driven fleets), before any command is due.
func (c *Commander) Start(ctx context.Context) error {
	if len(c.broker.URLs) == 0 {
		return errors.New("commander: no broker URL")
	}
	filters := c.filters()
	for i, url := range c.broker.URLs {
		o := mqtt.NewClientOptions().AddBroker(url).
			SetClientID(fmt.Sprintf("citybench-commander-%d-%d", i, time.Now().UnixNano())).
			SetCleanSession(true).SetAutoReconnect(true).SetMaxReconnectInterval(2 * time.Second).
			SetConnectTimeout(10 * time.Second).SetOrderMatters(false)
		if c.broker.Username != "" {
			o.SetUsername(c.broker.Username).SetPassword(c.broker.Password)
		}
		if c.broker.TLS != nil {
			o.SetTLSConfig(c.broker.TLS)
		}
		// A clean session forgets subscriptions: subscribe on every connection.
		o.SetOnConnectHandler(func(cl mqtt.Client) {
			if t := cl.SubscribeMultiple(filters, c.handle); t.WaitTimeout(10*time.Second) && t.Error() != nil {
				c.log.Warn("commander: subscribe", "broker", url, "err", t.Error())
			}
		})
		cl := mqtt.NewClient(o)
		if err := wait(ctx, cl.Connect()); err != nil {
			c.Stop()
			return fmt.Errorf("commander: connect %s: %w", url, err)
		}
		if err := wait(ctx, cl.SubscribeMultiple(filters, c.handle)); err != nil {
			cl.Disconnect(0)
			c.Stop()
			return fmt.Errorf("commander: subscribe on %s: %w", url, err)
		}
		c.clients = append(c.clients, cl)
	}
	c.checked.Add(1)
	go c.checkTokens()
	return nil
}

// filters are the topic filters the commander subscribes to, at the highest
// QoS commands travel at: every fleet's ack topic with each placeholder level
// a '+', and the control topics of fleets that report severity modes.
func (c *Commander) filters() map[string]byte {
	qos := byte(0)
	for _, cmd := range c.plan.Commands {
		qos = max(qos, cmd.QoS)
	}
	out := map[string]byte{}
	for _, d := range c.plan.devices.Devices {
		f := d.Fleet
		if f.ControlTopic == "" {
			continue
		}
		out[topics.MustParse(f.AckTopic).Filter()] = qos
		if f.Severity != nil {
			out[topics.MustParse(f.ControlTopic).Filter()] = max(qos, byte(f.QoS))
		}
	}
	return out
}

func (c *Commander) handle(_ mqtt.Client, m mqtt.Message) {
	now := time.Now().UnixNano()
	ctl, err := DecodeControl(m.Payload())
	switch {
	case err != nil:
		c.rec.unknown[acked].Add(1)
	case ctl.Kind == KindSeverity:
		c.rec.severitySeenBy(fmt.Sprintf("%s/%d", ctl.DeviceID, ctl.Seq))
	case ctl.Kind == KindCommand:
		// Our own command, echoed on a control topic watched for severity reports.
	default:
		ack, err := DecodeAck(m.Payload())
		dev, ok := c.plan.byID[ack.DeviceID]
		if err != nil || !ok {
			c.rec.unknown[acked].Add(1)
			return
		}
		c.rec.ackSeen(dev, ack.Seq, now)
	}
}

// Run sends every command intended before until at its time (open loop: a late
// send is recorded late, never re-timed) and returns once they are handed to
// the client, or ctx ends.
func (c *Commander) Run(ctx context.Context, until time.Duration) {
	start := c.rec.start()
	due := schedule.NewDue(start)
	defer due.Stop()
	for i := range c.plan.Commands {
		cmd := &c.plan.Commands[i]
		if cmd.At >= until || !due.Wait(ctx, cmd.At) {
			return
		}
		d := c.plan.Device(cmd)
		payload := Encode(Control{Kind: KindCommand, DeviceID: d.ID, Seq: cmd.Seq, TIntended: start.Add(cmd.At).UnixNano(), Command: cmd.Name, Params: cmd.Params})
		cl := c.clients[d.Global%len(c.clients)]
		c.rec.sent(i, time.Now().UnixNano())
		tok := cl.Publish(d.ControlTopic(), cmd.QoS, false, payload)
		select {
		case c.tokens <- tok:
		case <-ctx.Done():
			return
		}
	}
}

// checkTokens counts publishes that failed.
func (c *Commander) checkTokens() {
	defer c.checked.Done()
	for t := range c.tokens {
		if t.WaitTimeout(30*time.Second) && t.Error() != nil {
			c.rec.Error()
			c.log.Warn("commander: publish", "err", t.Error())
		}
	}
}

// Drain waits until every sent command was acknowledged, acknowledgements have
// stopped arriving for ackQuiet, or ctx ends.
func (c *Commander) Drain(ctx context.Context) {
	last, lastChange := c.rec.count[acked].Load(), time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		n := c.rec.count[acked].Load()
		if n != last {
			last, lastChange = n, time.Now()
		}
		if n >= c.rec.count[sent].Load() || time.Since(lastChange) >= ackQuiet {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Stop disconnects, after Run returned; later calls do nothing.
func (c *Commander) Stop() {
	c.stop.Do(func() {
		close(c.tokens)
		c.checked.Wait()
		for _, cl := range c.clients {
			cl.Disconnect(250)
		}
	})
}

func wait(ctx context.Context, t mqtt.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// deviceIDs indexes a schedule's devices by id.
func deviceIDs(p *schedule.Plan) map[string]int {
	out := make(map[string]int, len(p.Devices))
	for _, d := range p.Devices {
		out[d.ID] = d.Index
	}
	return out
}
