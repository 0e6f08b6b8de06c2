package harness

import (
	"github.com/citybench/citybench/harness/domains"
	"github.com/citybench/citybench/harness/taps"
	"github.com/citybench/citybench/harness/target"
)

// brokerTap observes the broker stage on every broker of the target: one
// subscriber per broker, each device observed on its own domain's broker.
func (r *run) brokerTap(eps target.Endpoints) taps.Tap {
	cfgs := make([]taps.BrokerConfig, len(eps.MQTTURLs))
	for i, u := range eps.MQTTURLs {
		cfgs[i] = taps.BrokerConfig{URL: u, Username: eps.MQTTUsername, Password: eps.MQTTPassword, TLS: eps.TLS, QoS: maxQoS(r.sc)}
	}
	n := len(eps.MQTTURLs)
	if n > 1 {
		r.log.Info("devices per broker", "brokers", n, "devices", domains.Shares(r.plan, n))
	}
	return taps.NewBrokers(cfgs, func(dev int) int { return domains.Device(r.plan.Devices[dev], n) })
}
