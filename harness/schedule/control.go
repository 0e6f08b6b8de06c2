package schedule

// ControlTopic expands the fleet's control topic for device d: where it listens
// for commands ("" when the fleet takes none).
func (d *Device) ControlTopic() string {
	if d.Fleet.ControlTopic == "" {
		return ""
	}
	return d.expand(d.Fleet.ControlTopic, -1)
}

// AckTopic expands the fleet's ack topic for device d: where it answers commands.
func (d *Device) AckTopic() string {
	if d.Fleet.ControlTopic == "" {
		return ""
	}
	return d.expand(d.Fleet.AckTopic, -1)
}
