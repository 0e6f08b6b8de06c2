package result

// Command stages, in the order a downlink command passes them.
const (
	StageCommandSent      = "command_sent"      // published by the harness's commander
	StageCommandDelivered = "command_delivered" // received by the device it was for
	StageCommandAcked     = "command_acked"     // the device's acknowledgement seen by the harness: the round trip
)

// CommandStages lists the command stages in order.
var CommandStages = []string{StageCommandSent, StageCommandDelivered, StageCommandAcked}

// Downlink is the commands the harness sent down to devices' control topics and
// the acknowledgements they sent back, over the measured window.
type Downlink struct {
	// Commands is how many commands were intended in the measured window.
	Commands int64 `json:"commands"`
	// Stages are command_sent (latency = generator lag), command_delivered
	// (latency = device receipt − intended; service time = receipt − sent) and
	// command_acked (the round trip: acknowledgement seen by the harness −
	// intended; service time from sent), with delivery accounting by command.
	Stages []StageSummary `json:"stages"`
	Errors int64          `json:"errors,omitempty"`
	// Unknown counts sightings per stage that matched no planned command, or
	// reached another device than the one it was for.
	Unknown map[string]int64 `json:"unknown,omitempty"`
	// Severity counts the severity-mode changes devices reported on their
	// control topics, and how many of them the harness saw there.
	Severity *SeverityReports `json:"severity_reports,omitempty"`
	Note     string           `json:"note,omitempty"`
}

// SeverityReports counts devices' severity-mode reports.
type SeverityReports struct {
	Sent       int64 `json:"sent"`
	Seen       int64 `json:"seen"`
	Duplicated int64 `json:"duplicated,omitempty"`
}

// Stage returns the named command stage, or nil.
func (d *Downlink) Stage(name string) *StageSummary {
	for i := range d.Stages {
		if d.Stages[i].Stage == name {
			return &d.Stages[i]
		}
	}
	return nil
}
