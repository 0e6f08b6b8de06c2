//go:build containers

package testcontainers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/citybench/citybench/pipeline/kafkasec"
	"github.com/citybench/citybench/pipeline/pki"
	"github.com/citybench/citybench/scenarios"
)

// strangers are TLS configurations a client outside the run may hold: no
// certificate (but the run's CA trusted, so the only reason to refuse it is the
// missing certificate), and a certificate from another CA.
type strangers struct{ noCert, otherCA *tls.Config }

func newStrangers(t *testing.T, runCA *pki.Material) strangers {
	t.Helper()
	other, err := pki.New([]string{"localhost"}, "stranger")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(other.Client.Cert, other.Client.Key)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(runCA.CA.Cert)
	return strangers{
		noCert:  &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		otherCA: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
	}
}

// refusal runs one client attempt; the run's own client must be let in (which also
// proves the endpoint answers), every other one refused.
type refusal struct {
	name   string
	wantOK bool
	try    func(ctx context.Context) error
}

func checkRefusals(t *testing.T, cases []refusal) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := c.try(ctx)
			if c.wantOK && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !c.wantOK && err == nil {
				t.Errorf("accepted; want refused")
			}
			if !c.wantOK && err != nil {
				t.Logf("refused as wanted: %v", err)
			}
		})
	}
}

// TestTLSRefusesStrangersMQTT: on both brokers the security profile is TLS only with
// client certificates required; Mosquitto also checks a password.
func TestTLSRefusesStrangersMQTT(t *testing.T) {
	for _, broker := range []string{CompMosquitto, CompHiveMQ} {
		t.Run(broker, func(t *testing.T) {
			tg := NewTarget(scenarios.Target{Kind: "containers", Broker: broker, Security: "tls"}, WithLogger(testLogger(t)), withTestLabel())
			tg.cfg.brokerOnly = true
			ep := startTarget(t, tg)
			if !strings.HasPrefix(ep.MQTTURLs[0], "ssl://") || ep.TLS == nil {
				t.Fatalf("tls endpoints incomplete: %+v", ep)
			}
			url, st := ep.MQTTURLs[0], newStrangers(t, tg.TLS())
			connect := func(c *tls.Config, user, pass string) func(context.Context) error {
				return func(ctx context.Context) error { return MQTTConnect(ctx, url, c, user, pass) }
			}
			cases := []refusal{
				{"run client", true, connect(ep.TLS, ep.MQTTUsername, ep.MQTTPassword)},
				{"anonymous without certificate", false, connect(st.noCert, "", "")},
				{"certificate from another CA", false, connect(st.otherCA, ep.MQTTUsername, ep.MQTTPassword)},
				{"credentials without client certificate", false, connect(st.noCert, ep.MQTTUsername, ep.MQTTPassword)},
				{"plaintext on the TLS port", false, func(ctx context.Context) error {
					return MQTTConnect(ctx, strings.Replace(url, "ssl://", "tcp://", 1), nil, "", "")
				}},
			}
			if broker == CompMosquitto {
				if ep.MQTTUsername == "" {
					t.Fatal("mosquitto under tls has no password")
				}
				cases = append(cases,
					refusal{"anonymous with client certificate", false, connect(ep.TLS, "", "")},
					refusal{"wrong password", false, connect(ep.TLS, ep.MQTTUsername, "not-the-password")})
			}
			checkRefusals(t, cases)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := mqttRoundTrip(ctx, url, ep.TLS, ep.MQTTUsername, ep.MQTTPassword); err != nil {
				t.Errorf("round trip over tls: %v", err)
			}
		})
	}
}

// TestTLSRefusesStrangersKafkaCassandra: Kafka's listeners take only TLS with a
// client certificate plus SASL/SCRAM, Cassandra only TLS with a client certificate
// plus a password.
func TestTLSRefusesStrangersKafkaCassandra(t *testing.T) {
	tg := NewTarget(scenarios.Target{Kind: "containers", Security: "tls"}, WithoutServices(), WithLogger(testLogger(t)), withTestLabel())
	ep := startTarget(t, tg)
	if ep.KafkaSecurity.TLS == nil || ep.KafkaSecurity.Mechanism != kafkasec.ScramSHA512 {
		t.Fatalf("kafka endpoints not secured: %+v", ep.KafkaSecurity)
	}
	st := newStrangers(t, tg.TLS())
	kafkaTry := func(sec kafkasec.Config) func(context.Context) error {
		return func(ctx context.Context) error {
			d, err := sec.Dialer(5 * time.Second)
			if err != nil {
				return err
			}
			_, err = KafkaBrokers(ctx, d, ep.KafkaBrokers[0])
			return err
		}
	}
	run := ep.KafkaSecurity
	with := func(f func(*kafkasec.Config)) kafkasec.Config { c := run; f(&c); return c }
	t.Run("kafka", func(t *testing.T) {
		checkRefusals(t, []refusal{
			{"run client", true, kafkaTry(run)},
			{"anonymous with client certificate", false, kafkaTry(kafkasec.Config{TLS: run.TLS})},
			{"wrong password", false, kafkaTry(with(func(c *kafkasec.Config) { c.Password = "not-the-password" }))},
			{"unknown user", false, kafkaTry(with(func(c *kafkasec.Config) { c.Username = "stranger" }))},
			{"credentials without client certificate", false, kafkaTry(with(func(c *kafkasec.Config) { c.TLS = st.noCert }))},
			{"certificate from another CA", false, kafkaTry(with(func(c *kafkasec.Config) { c.TLS = st.otherCA }))},
			{"plaintext", false, kafkaTry(kafkasec.Config{})},
		})
	})

	auth, err := tg.cqlAuth()
	if err != nil {
		t.Fatal(err)
	}
	host := tg.CassandraHosts()[0]
	cqlTry := func(a CQLAuth) func(context.Context) error {
		return func(ctx context.Context) error { _, err := CQLQuery(ctx, host, a); return err }
	}
	named := func(c *tls.Config) *tls.Config { c = c.Clone(); c.ServerName = cassandraServerName; return c }
	t.Run("cassandra", func(t *testing.T) {
		checkRefusals(t, []refusal{
			{"run client", true, cqlTry(auth)},
			{"anonymous with client certificate", false, cqlTry(CQLAuth{TLS: auth.TLS})},
			{"default superuser", false, cqlTry(CQLAuth{Username: "cassandra", Password: "cassandra", TLS: auth.TLS})},
			{"wrong password", false, cqlTry(CQLAuth{Username: auth.Username, Password: "not-the-password", TLS: auth.TLS})},
			{"credentials without client certificate", false, cqlTry(CQLAuth{Username: auth.Username, Password: auth.Password, TLS: named(st.noCert)})},
			{"certificate from another CA", false, cqlTry(CQLAuth{Username: auth.Username, Password: auth.Password, TLS: named(st.otherCA)})},
			{"plaintext", false, cqlTry(CQLAuth{Username: auth.Username, Password: auth.Password})},
		})
	})
	// The run's own clients also work end to end: the store opened over TLS.
	if ep.Store == nil {
		t.Fatal("no store endpoint")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafkaProduceConsume(ctx, ep); err != nil {
		t.Errorf("kafka produce/consume over SASL_SSL: %v", err)
	}
}
