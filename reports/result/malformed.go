package result

// Malformed is what the pipeline did with the messages sent malformed on
// purpose. A correct pipeline dead-letters each one with a reason and stores none.
// Counts cover the whole run, warm-up included.
type Malformed struct {
	// Kinds in the order scenarios.MalformedKinds lists them; kinds not sent are absent.
	Kinds []MalformedKind `json:"kinds"`
	// Total sums the kinds.
	Total MalformedKind `json:"total"`
	// Unmatched are dead letters that were none of this run's malformed
	// messages, by reason: valid readings the pipeline refused (they show as
	// loss at the kafka stage too) or another producer's.
	Unmatched map[string]int64 `json:"unmatched,omitempty"`
	// Verified is false when no dead-letter tap could read the target's
	// dead-letter topic: DeadLettered is then unknown, not zero.
	Verified bool `json:"verified"`
}

// MalformedKind is one kind's figures.
type MalformedKind struct {
	Kind string `json:"kind"`
	// Injected were sent (handed to the MQTT client).
	Injected int64 `json:"injected"`
	// DeadLettered were seen in the dead-letter topic (each message once).
	DeadLettered int64 `json:"dead_lettered"`
	// Stored were found in the store under their device and seq: the pipeline
	// took a malformed payload for a reading.
	Stored int64 `json:"stored"`
	// Missing were neither dead-lettered nor stored: dropped without a trace.
	Missing int64 `json:"missing"`
	// Duplicates are further dead letters of a message already dead-lettered.
	Duplicates int64 `json:"duplicates,omitempty"`
	// Reasons are the dead-letter reasons given, by reason.
	Reasons map[string]int64 `json:"reasons,omitempty"`
}

// Add adds o's counts to k (reasons included).
func (k *MalformedKind) Add(o MalformedKind) {
	k.Injected += o.Injected
	k.DeadLettered += o.DeadLettered
	k.Stored += o.Stored
	k.Missing += o.Missing
	k.Duplicates += o.Duplicates
	for r, n := range o.Reasons {
		if k.Reasons == nil {
			k.Reasons = map[string]int64{}
		}
		k.Reasons[r] += n
	}
}

// Replay is what one replay fleet replayed (see scenarios.Replay).
type Replay struct {
	Fleet  string `json:"fleet"`
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	Sites  int    `json:"sites"`
	// Rows of the replayed sites in the file; RowsReplayed became messages.
	Rows         int `json:"rows"`
	RowsReplayed int `json:"rows_replayed"`
	Messages     int `json:"messages"`
	// MissingDays had no row in a site's series: nothing was sent for them.
	MissingDays int `json:"missing_days"`
	// EmptyCells of replayed rows: those metrics were left out of the reading.
	EmptyCells int `json:"empty_cells"`
	// RowsEmpty had no value at all; RowsBeyondRun fell after the run's end.
	RowsEmpty     int `json:"rows_empty"`
	RowsBeyondRun int `json:"rows_beyond_run"`
}
