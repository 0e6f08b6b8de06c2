// Package kafkasec turns one Kafka security setting (TLS and SASL credentials)
// into kafka-go's Dialer and Transport, so the bridge, the sink and anything else
// that talks to Kafka connect and authenticate the same way.
package kafkasec

import (
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// SASL mechanisms a Config accepts.
const (
	ScramSHA512 = "SCRAM-SHA-512"
	ScramSHA256 = "SCRAM-SHA-256"
	Plain       = "PLAIN"
)

// Config is how to reach a Kafka cluster securely. The zero Config is plaintext
// without authentication.
type Config struct {
	// TLS, when set, encrypts every connection (client certificate included, if it
	// has one). kafka-go checks the broker's certificate against the address it
	// dials unless ServerName is set.
	TLS *tls.Config
	// Mechanism is the SASL mechanism (ScramSHA512, ScramSHA256, Plain); empty for none.
	Mechanism          string
	Username, Password string
}

// Enabled reports whether anything beyond plaintext is configured.
func (c Config) Enabled() bool { return c.TLS != nil || c.Mechanism != "" }

// SASL returns the configured mechanism, nil when none is.
func (c Config) SASL() (sasl.Mechanism, error) {
	switch m := strings.ToUpper(c.Mechanism); m {
	case "":
		if c.Username != "" {
			return nil, fmt.Errorf("kafka username %q given without a SASL mechanism (want %s, %s or %s)", c.Username, ScramSHA512, ScramSHA256, Plain)
		}
		return nil, nil
	case ScramSHA512, ScramSHA256:
		if c.Username == "" {
			return nil, fmt.Errorf("kafka SASL %s needs a username", m)
		}
		algo := scram.SHA512
		if m == ScramSHA256 {
			algo = scram.SHA256
		}
		mech, err := scram.Mechanism(algo, c.Username, c.Password)
		if err != nil {
			return nil, fmt.Errorf("kafka SASL %s: %w", m, err)
		}
		return mech, nil
	case Plain:
		if c.Username == "" {
			return nil, fmt.Errorf("kafka SASL %s needs a username", m)
		}
		return plain.Mechanism{Username: c.Username, Password: c.Password}, nil
	default:
		return nil, fmt.Errorf("kafka SASL mechanism %q unknown (want %s, %s or %s)", c.Mechanism, ScramSHA512, ScramSHA256, Plain)
	}
}

// Dialer is a kafka-go Dialer (readers, consumer groups, admin connections) with
// this security and the given connect timeout.
func (c Config) Dialer(timeout time.Duration) (*kafka.Dialer, error) {
	mech, err := c.SASL()
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{Timeout: timeout, DualStack: true, TLS: c.TLS, SASLMechanism: mech}, nil
}

// Transport is a kafka-go Transport (writers, clients) with this security, the
// given dial timeout and metadata TTL (0 keeps kafka-go's default).
func (c Config) Transport(dialTimeout, metadataTTL time.Duration) (*kafka.Transport, error) {
	mech, err := c.SASL()
	if err != nil {
		return nil, err
	}
	return &kafka.Transport{DialTimeout: dialTimeout, MetadataTTL: metadataTTL, TLS: c.TLS, SASL: mech}, nil
}
