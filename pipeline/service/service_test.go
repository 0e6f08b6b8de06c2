package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/spf13/pflag"

	"github.com/citybench/citybench/pipeline/codec"
	"github.com/citybench/citybench/pipeline/embedded"
)

func bind(t *testing.T, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	var c Config
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := c.Bind(fs, func(k string) string { return env[k] }); err != nil {
		return c, err
	}
	return c, fs.Parse(args)
}

func TestBindPrecedence(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		check   func(Config) string
		wantErr string
	}{
		{name: "defaults", check: func(c Config) string {
			if c.MQTTFilter != "#" || c.KafkaTopic != "readings" || c.KafkaDLQTopic != "readings.dlq" || c.Codec != "json" ||
				c.Store != "memory" || c.DrainTimeout != 20*time.Second {
				return fmt.Sprintf("unexpected defaults %+v", c)
			}
			return ""
		}},
		{name: "env beats default", env: map[string]string{"CITYBENCH_KAFKA_BROKERS": "k1:9092, k2:9092", "CITYBENCH_MQTT_FILTER": "city/#"},
			check: func(c Config) string {
				if strings.Join(c.KafkaBrokers, "|") != "k1:9092|k2:9092" || c.MQTTFilter != "city/#" {
					return fmt.Sprintf("brokers %q filter %q", c.KafkaBrokers, c.MQTTFilter)
				}
				return ""
			}},
		{name: "flag beats env", env: map[string]string{"CITYBENCH_STORE": "cassandra"}, args: []string{"--store=memory", "--drain-timeout=3s"},
			check: func(c Config) string {
				if c.Store != "memory" || c.DrainTimeout != 3*time.Second {
					return fmt.Sprintf("store %q drain %s", c.Store, c.DrainTimeout)
				}
				return ""
			}},
		{name: "bad env duration", env: map[string]string{"CITYBENCH_DRAIN_TIMEOUT": "soon"}, wantErr: "CITYBENCH_DRAIN_TIMEOUT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := bind(t, tc.env, tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.check(c); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		component string
		args      []string
		want      []string // substrings of the error; none means valid
	}{
		{component: Bridge},
		{component: Sink},
		{component: API},
		{component: "router", want: []string{"unknown component"}},
		{component: Bridge, args: []string{"--mqtt-url=", "--kafka-brokers=", "--codec=xml"}, want: []string{"mqtt-url", "kafka-brokers", "xml"}},
		{component: Bridge, args: []string{"--mqtt-cert=c.pem"}, want: []string{"together"}},
		{component: Sink, args: []string{"--store=postgres", "--kafka-group="}, want: []string{"postgres", "kafka-group"}},
		{component: API, args: []string{"--store=cassandra", "--cassandra-hosts="}, want: []string{"cassandra-hosts"}},
		{component: Bridge, args: []string{"--topic-template=hypo_city", "--codec=text"}},
		{component: Sink, args: []string{"--topic-template=/{zip}/{building}/env", "--codec=protobuf"}},
		{component: Bridge, args: []string{"--topic-template=harbour"}, want: []string{"harbour"}},
		{component: Sink, args: []string{"--topic-template=/{a}/{a}"}, want: []string{"twice"}},
		{component: Bridge, args: []string{"--kafka-sasl-mechanism=SCRAM-SHA-512", "--kafka-username=u", "--kafka-password=p"}},
		{component: Bridge, args: []string{"--kafka-sasl-mechanism=GSSAPI", "--kafka-username=u"}, want: []string{"GSSAPI"}},
		{component: Sink, args: []string{"--kafka-sasl-mechanism=SCRAM-SHA-256"}, want: []string{"needs a username"}},
		{component: Sink, args: []string{"--kafka-cert=c.pem"}, want: []string{"kafka-cert and kafka-key"}},
		{component: API, args: []string{"--store=cassandra", "--cassandra-cert=c.pem", "--cassandra-password=p"},
			want: []string{"cassandra-cert and cassandra-key", "without cassandra-username"}},
		{component: API, args: []string{"--store=cassandra", "--cassandra-username=u", "--cassandra-password=p", "--cassandra-ca=ca.pem"}},
	}
	for _, tc := range tests {
		t.Run(tc.component+strings.Join(tc.args, ","), func(t *testing.T) {
			c, err := bind(t, nil, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Validate(tc.component)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("valid config refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("invalid config accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestTemplateShapesCodecAndRoutes checks that the topic template reaches the
// text codec (device and metric from the topic) and the bridge's routes.
func TestTemplateShapesCodecAndRoutes(t *testing.T) {
	c, err := bind(t, map[string]string{"CITYBENCH_TOPIC_TEMPLATE": "hypo_city", "CITYBENCH_CODEC": "text"})
	if err != nil {
		t.Fatal(err)
	}
	cd, err := c.PayloadCodec()
	if err != nil {
		t.Fatal(err)
	}
	const topic = "hypo_city/rome/via_roma/g7/temperature"
	r, err := cd.Decode(topic, []byte("1700000000\t28.7"))
	if err != nil {
		t.Fatal(err)
	}
	if r.DeviceID != "rome/via_roma/g7" || r.Metrics["temperature"] != 28.7 {
		t.Fatalf("decoded %+v, want device rome/via_roma/g7 with temperature 28.7", r)
	}
	routes, err := c.Routes()
	if err != nil {
		t.Fatal(err)
	}
	m, ok := routes.Route(topic)
	if !ok || m.KafkaTopic != "readings" || m.Vars["street"] != "via_roma" {
		t.Fatalf("route %+v ok=%v", m, ok)
	}
	if _, ok := routes.Route("other/layout"); ok {
		t.Fatal("a topic outside the template was routed")
	}
	none, err := bind(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := none.Routes(); err != nil || r != nil {
		t.Fatalf("routes without a template: %v, %v", r, err)
	}
}

type running struct {
	addr string
	done chan error
	stop context.CancelFunc
}

func runComponent(t *testing.T, component string, args ...string) *running {
	t.Helper()
	c, err := bind(t, nil, append([]string{"--listen=127.0.0.1:0", "--drain-timeout=2s"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	addrCh := make(chan string, 1)
	r := &running{done: make(chan error, 1), stop: cancel}
	go func() {
		r.done <- Run(ctx, component, c, slog.New(slog.DiscardHandler), func(a string) { addrCh <- a })
	}()
	select {
	case r.addr = <-addrCh:
	case err := <-r.done:
		t.Fatalf("%s stopped before listening: %v", component, err)
	case <-time.After(20 * time.Second):
		t.Fatalf("%s never listened", component)
	}
	return r
}

func (r *running) shutdown(t *testing.T) {
	t.Helper()
	r.stop()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run returned %v after a clean stop", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("component did not stop within its drain timeout")
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeComponents runs each component as the containers do, against the
// embedded broker and Kafka, and checks the endpoints orchestrators rely on.
func TestServeComponents(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Second)
	defer cancel()
	p, err := embedded.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		cctx, c := context.WithTimeout(context.Background(), 20*time.Second)
		defer c()
		if err := p.Close(cctx); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	kafkaFlag := "--kafka-brokers=" + strings.Join(p.KafkaBrokers, ",")

	br := runComponent(t, Bridge, "--mqtt-url="+p.MQTTURL, "--mqtt-client-id=svc-bridge",
		"--mqtt-share-group=svc", "--mqtt-filter=svc/#", kafkaFlag)
	sk := runComponent(t, Sink, kafkaFlag, "--kafka-group=svc-sink")
	ap := runComponent(t, API)

	for _, r := range []*running{br, sk} {
		eventually(t, "ready "+r.addr, func() bool { code, _ := get(t, "http://"+r.addr+"/readyz"); return code == http.StatusOK })
		if code, _ := get(t, "http://"+r.addr+"/healthz"); code != http.StatusOK {
			t.Errorf("%s /healthz = %d", r.addr, code)
		}
	}
	if code, _ := get(t, "http://"+ap.addr+"/healthz"); code != http.StatusOK {
		t.Errorf("api /healthz = %d", code)
	}

	const n = 10
	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(p.MQTTURL).SetClientID("svc-pub"))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	for i := 1; i <= n; i++ {
		b, err := codec.JSON().Encode(codec.Reading{DeviceID: "svc-dev", Seq: uint64(i), SampleTimeNs: time.Now().UnixNano(),
			Metrics: map[string]float64{"t": 1}})
		if err != nil {
			t.Fatal(err)
		}
		if tok := pub.Publish("svc/dev", 1, false, b); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	eventually(t, "bridge metrics", func() bool {
		_, body := get(t, "http://"+br.addr+"/metrics")
		return strings.Contains(body, fmt.Sprintf("citybench_bridge_produced_total %d", n))
	})
	// The sink's own group reads everything on the topic, the embedded bridge's
	// copies of these readings included.
	eventually(t, "sink metrics", func() bool {
		_, body := get(t, "http://"+sk.addr+"/metrics")
		return strings.Contains(body, "citybench_sink_written_total") &&
			!strings.Contains(body, "citybench_sink_written_total 0\n")
	})

	for _, r := range []*running{br, sk, ap} {
		r.shutdown(t)
	}
}
