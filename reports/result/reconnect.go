package result

// ReconnectStorm is one fleet's reconnect storm: at AtS its devices dropped
// their network connections at once and reconnected with backoff and jitter.
// Times are seconds since the run's offset 0.
type ReconnectStorm struct {
	Fleet string  `json:"fleet"`
	AtS   float64 `json:"at_s"`
	// EndS is when the last dropped device was connected again (0: not all were).
	EndS        float64 `json:"end_s,omitempty"`
	Devices     int     `json:"devices"` // the fleet's devices in this run
	Dropped     int     `json:"dropped"`
	Reconnected int     `json:"reconnected"`
	// SessionKept says the fleet asked the broker to keep its session
	// (clean_session false; with MQTT 5 also a session expiry); SessionResumed
	// counts reconnects whose CONNACK said the session was present.
	SessionKept    bool `json:"session_kept"`
	SessionResumed int  `json:"session_resumed"`
	// Attempts counts every reconnect attempt; ConnackFailures those the broker
	// refused, by return (3.1.1) or reason (5) code; NetworkFailures those that
	// got no CONNACK at all (refused, reset, timed out).
	Attempts        int64            `json:"attempts"`
	ConnackFailures map[string]int64 `json:"connack_failures,omitempty"`
	NetworkFailures int64            `json:"network_failures"`
	// ConnectLatency is dial → CONNACK of each successful attempt (µs), with
	// its HdrHistogram (base64 V2) for merging.
	ConnectLatency    Quantiles `json:"connect_latency"`
	ConnectLatencyHDR string    `json:"connect_latency_hdr,omitempty"`
	// ConnectsPerSecond counts successful reconnects in each second from AtS;
	// the peak is its largest entry, the mean Reconnected over EndS − AtS.
	ConnectsPerSecond []int64 `json:"connects_per_second"`
	ConnectRatePeak   float64 `json:"connect_rate_peak_per_s"`
	ConnectRateMean   float64 `json:"connect_rate_mean_per_s"`
	// Queued counts readings due while a device of the fleet was
	// disconnected: each waited on the device and was sent on reconnect.
	Queued int64 `json:"queued"`
}
