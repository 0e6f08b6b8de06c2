package kafkasec

import (
	"crypto/tls"
	"testing"
	"time"
)

func TestConfig(t *testing.T) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	for _, c := range []struct {
		name     string
		cfg      Config
		wantMech string // "" for none
		wantErr  bool
	}{
		{"plaintext", Config{}, "", false},
		{"tls only", Config{TLS: tlsCfg}, "", false},
		{"scram-sha-512", Config{TLS: tlsCfg, Mechanism: "scram-sha-512", Username: "u", Password: "p"}, ScramSHA512, false},
		{"scram-sha-256", Config{Mechanism: ScramSHA256, Username: "u", Password: "p"}, ScramSHA256, false},
		{"plain", Config{Mechanism: Plain, Username: "u", Password: "p"}, Plain, false},
		{"no username", Config{Mechanism: ScramSHA512}, "", true},
		{"username without mechanism", Config{Username: "u"}, "", true},
		{"unknown mechanism", Config{Mechanism: "GSSAPI", Username: "u"}, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := c.cfg.Dialer(time.Second)
			_, terr := c.cfg.Transport(time.Second, time.Second)
			if (err != nil) != c.wantErr || (terr != nil) != c.wantErr {
				t.Fatalf("dialer err %v, transport err %v, want error %v", err, terr, c.wantErr)
			}
			if c.wantErr {
				return
			}
			got := ""
			if d.SASLMechanism != nil {
				got = d.SASLMechanism.Name()
			}
			if got != c.wantMech || d.TLS != c.cfg.TLS {
				t.Errorf("mechanism %q TLS %v, want %q %v", got, d.TLS, c.wantMech, c.cfg.TLS)
			}
		})
	}
}
