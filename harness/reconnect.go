package harness

import (
	"fmt"
	"sort"

	"github.com/citybench/citybench/harness/devices"
	"github.com/citybench/citybench/reports/result"
)

// FaultReconnectStorm is the fault kind that marks a fleet's reconnect storm on
// the time line: a fault the devices cause themselves.
const FaultReconnectStorm = "reconnect-storm"

// addDeviceReports adds what the devices measured themselves: their reconnect
// storms (also marked on the time line, so recovery is analysed as for any
// fault), MQTT 5 reason codes and the readings that waited for a connection.
func addDeviceReports(res *result.Result, sim *devices.Simulator) {
	res.Reconnects = sim.Reconnects()
	res.MQTT5ReasonCodes = sim.ReasonCodes()
	for k, v := range sim.Counters() {
		res.Counters[k] = v
	}
	for _, st := range res.Reconnects {
		if st.Dropped == 0 {
			continue
		}
		ev := result.FaultEvent{Kind: FaultReconnectStorm, Target: "devices", Component: st.Fleet, AtS: st.AtS, ActedS: st.AtS, EndS: st.EndS,
			Detail: fmt.Sprintf("fleet %s dropped %d of %d connections; %d reconnected, %d with their session present", st.Fleet, st.Dropped, st.Devices, st.Reconnected, st.SessionResumed)}
		if st.EndS == 0 {
			ev.Error = fmt.Sprintf("%d of %d dropped devices had not reconnected by the end", st.Dropped-st.Reconnected, st.Dropped)
		}
		res.Faults = append(res.Faults, ev)
	}
	sort.SliceStable(res.Faults, func(i, j int) bool { return res.Faults[i].AtS < res.Faults[j].AtS })
}
