package external

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/citybench/citybench/pipeline/embedded"
	"github.com/citybench/citybench/pipeline/service"
)

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestPreflight probes a real (embedded) pipeline: what it runs must pass, and what
// is configured but absent must fail with the address in the message.
func TestPreflight(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := embedded.Start(ctx)
	if err != nil {
		t.Fatalf("embedded pipeline: %v", err)
	}
	defer p.Close(context.Background())
	dead := closedAddr(t)

	cases := []struct {
		name     string
		cfg      Config
		wantOK   bool
		wantFail []string // stages expected to fail
	}{
		{"everything reachable", Config{MQTTURLs: []string{p.MQTTURL}, KafkaBrokers: p.KafkaBrokers, KafkaTopic: p.Topic, APIURL: p.APIURL}, true, nil},
		{"mqtt only", Config{MQTTURLs: []string{p.MQTTURL}}, true, nil},
		{"no mqtt configured", Config{KafkaBrokers: p.KafkaBrokers, KafkaTopic: p.Topic}, false, []string{"mqtt"}},
		{"broker down", Config{MQTTURLs: []string{"tcp://" + dead}}, false, []string{"mqtt"}},
		{"topic missing", Config{MQTTURLs: []string{p.MQTTURL}, KafkaBrokers: p.KafkaBrokers[:1], KafkaTopic: "no-such-topic"}, false, []string{"kafka"}},
		{"cassandra down", Config{MQTTURLs: []string{p.MQTTURL}, CassandraHosts: []string{dead}}, false, []string{"cassandra"}},
		{"api down", Config{MQTTURLs: []string{p.MQTTURL}, APIURL: "http://" + dead}, false, []string{"api"}},
		{"kafka SASL mechanism unknown", Config{MQTTURLs: []string{p.MQTTURL}, KafkaBrokers: p.KafkaBrokers[:1], KafkaTopic: p.Topic,
			KafkaSASLMechanism: "GSSAPI", KafkaUsername: "u"}, false, []string{"kafka"}},
		{"kafka CA file missing", Config{MQTTURLs: []string{p.MQTTURL}, KafkaBrokers: p.KafkaBrokers[:1], KafkaTopic: p.Topic,
			KafkaCA: "no-such-ca.pem"}, false, []string{"kafka"}},
		{"cassandra CA file missing", Config{MQTTURLs: []string{p.MQTTURL}, CassandraHosts: []string{dead}, CassandraCA: "no-such-ca.pem"}, false, []string{"cassandra"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := New(c.cfg, WithCheckTimeout(3*time.Second))
			r := tg.Preflight(ctx)
			if r.OK() != c.wantOK {
				t.Errorf("OK() = %v, want %v\n%s", r.OK(), c.wantOK, r)
			}
			failed := map[string]bool{}
			for _, ch := range r.Checks {
				if !ch.OK {
					failed[ch.Stage] = true
				}
			}
			for _, s := range c.wantFail {
				if !failed[s] {
					t.Errorf("stage %s did not fail\n%s", s, r)
				}
			}
			if len(failed) != len(c.wantFail) {
				t.Errorf("failed stages %v, want %v\n%s", failed, c.wantFail, r)
			}
			_, err := tg.Start(ctx)
			if c.wantOK && err != nil {
				t.Errorf("start: %v", err)
			}
			if !c.wantOK {
				if !errors.Is(err, ErrUnreachable) {
					t.Errorf("start error %v, want ErrUnreachable", err)
				} else if c.cfg.CassandraHosts != nil && !strings.Contains(err.Error(), dead) {
					t.Errorf("refusal does not name the address: %v", err)
				}
			}
			if err := tg.Stop(ctx); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		"CITYBENCH_MQTT_URL":        "tcp://a:1883, tcp://b:1883,",
		"CITYBENCH_KAFKA_BROKERS":   "k1:9092,k2:9092",
		"CITYBENCH_CASSANDRA_HOSTS": "c1",
		"CITYBENCH_API_URL":         "http://api:8080",
		// The security settings, named as the pipeline services name them.
		service.EnvKafkaCA: "k-ca.pem", service.EnvKafkaCert: "k.crt", service.EnvKafkaKey: "k.key",
		service.EnvKafkaSASLMechanism: "SCRAM-SHA-512", service.EnvKafkaUsername: "ku", service.EnvKafkaPassword: "kp",
		service.EnvCassandraUsername: "cu", service.EnvCassandraPassword: "cp", service.EnvCassandraCA: "c-ca.pem",
		service.EnvCassandraCert: "c.crt", service.EnvCassandraKey: "c.key", service.EnvCassandraServerName: "cassandra",
	}
	cfg := New(ConfigFromEnv(func(k string) string { return env[k] })).cfg
	if got := strings.Join(cfg.MQTTURLs, "|"); got != "tcp://a:1883|tcp://b:1883" {
		t.Errorf("mqtt urls %q", got)
	}
	if len(cfg.KafkaBrokers) != 2 || cfg.KafkaTopic != "readings" || cfg.CassandraKeyspace != "citybench" || cfg.APIURL != "http://api:8080" {
		t.Errorf("config %+v", cfg)
	}
	want := Config{KafkaCA: "k-ca.pem", KafkaCert: "k.crt", KafkaKey: "k.key", KafkaSASLMechanism: "SCRAM-SHA-512",
		KafkaUsername: "ku", KafkaPassword: "kp", CassandraUsername: "cu", CassandraPassword: "cp", CassandraCA: "c-ca.pem",
		CassandraCert: "c.crt", CassandraKey: "c.key", CassandraServerName: "cassandra"}
	got := Config{KafkaCA: cfg.KafkaCA, KafkaCert: cfg.KafkaCert, KafkaKey: cfg.KafkaKey, KafkaSASLMechanism: cfg.KafkaSASLMechanism,
		KafkaUsername: cfg.KafkaUsername, KafkaPassword: cfg.KafkaPassword, CassandraUsername: cfg.CassandraUsername,
		CassandraPassword: cfg.CassandraPassword, CassandraCA: cfg.CassandraCA, CassandraCert: cfg.CassandraCert,
		CassandraKey: cfg.CassandraKey, CassandraServerName: cfg.CassandraServerName}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("security settings\n got %+v\nwant %+v", got, want)
	}
}

// TestEnvRoundTrip: every field Env writes, ConfigFromEnv reads back — a worker
// process pointed at a pipeline sees exactly the coordinator's configuration.
func TestEnvRoundTrip(t *testing.T) {
	var want Config
	v := reflect.ValueOf(&want).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString(v.Type().Field(i).Name + "-value")
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{v.Type().Field(i).Name + "-a", v.Type().Field(i).Name + "-b"}))
		default:
			t.Fatalf("field %s: kind %s not covered by this test", v.Type().Field(i).Name, f.Kind())
		}
	}
	env := map[string]string{}
	for _, kv := range want.Env() {
		k, val, _ := strings.Cut(kv, "=")
		env[k] = val
	}
	if got := ConfigFromEnv(func(k string) string { return env[k] }); !reflect.DeepEqual(got, want) {
		t.Errorf("round trip lost fields:\n got %+v\nwant %+v", got, want)
	}
}
