package ledger

// goldenCases are the synthetic runs whose figures the slot-per-message
// ledger (the recorder before the bounded one) wrote to testdata/eager-golden.json.
// "in window": no device sends more than the in-flight window; "long": every
// device sends several windows' worth, so messages leave the window before
// the store read-back and stragglers arrive beyond it; "burst": closed-loop
// devices, whose intended times are set at run time.
var goldenCases = []struct{ name, warmup, duration, meter, air, extra string }{
	{"in window", "2s", "20s", "100ms", "250ms", ""},
	{"long", "2s", "60s", "50ms", "100ms", ""},
	{"burst", "0s", "20s", "100ms", "250ms", burstFleet},
}
