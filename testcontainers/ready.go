package testcontainers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/segmentio/kafka-go"
)

// poll calls check every interval until it succeeds or ctx ends; the error then
// carries check's last failure, which is what someone debugging a start needs.
func poll(ctx context.Context, what string, interval time.Duration, check func(context.Context) error) error {
	var last error
	for {
		attempt, cancel := context.WithTimeout(ctx, 10*time.Second)
		last = check(attempt)
		cancel()
		if last == nil {
			return nil
		}
		var perm *permanentError
		if errors.As(last, &perm) {
			return fmt.Errorf("%s refused: %w", what, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last error: %v)", what, ctx.Err(), last)
		case <-time.After(interval):
		}
	}
}

// permanentError marks a failure that waiting cannot fix (a broker that answers
// and refuses), so a start fails in seconds instead of at its deadline.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// MQTTConnect connects a real MQTT client and waits for CONNACK; readiness for a
// broker means exactly that. It disconnects at once.
func MQTTConnect(ctx context.Context, url string, tlsCfg *tls.Config, user, pass string) error {
	opts := mqtt.NewClientOptions().
		AddBroker(url).
		SetClientID(fmt.Sprintf("citybench-ready-%d", time.Now().UnixNano())).
		SetConnectTimeout(5 * time.Second).
		SetAutoReconnect(false).
		SetConnectRetry(false)
	if tlsCfg != nil {
		opts.SetTLSConfig(tlsCfg)
	}
	if user != "" {
		opts.SetUsername(user).SetPassword(pass)
	}
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := tok.Error(); err != nil {
		err = fmt.Errorf("mqtt connect %s: %w", url, err)
		if refused(err) {
			return &permanentError{err}
		}
		return err
	}
	c.Disconnect(100)
	return nil
}

// refused reports a CONNACK refusal or a certificate the client rejects: the broker
// is up and said no.
func refused(err error) bool {
	for _, r := range []error{packets.ErrorRefusedNotAuthorised, packets.ErrorRefusedBadUsernameOrPassword,
		packets.ErrorRefusedIDRejected, packets.ErrorRefusedBadProtocolVersion} {
		if errors.Is(err, r) {
			return true
		}
	}
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	return errors.As(err, &unknownCA) || errors.As(err, &hostname)
}

// KafkaBrokers returns the broker ids the cluster's metadata lists, asked of
// bootstrap through d (TLS, SASL).
func KafkaBrokers(ctx context.Context, d *kafka.Dialer, bootstrap string) ([]int, error) {
	conn, err := d.DialContext(ctx, "tcp", bootstrap)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", bootstrap, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	bs, err := conn.Brokers()
	if err != nil {
		return nil, fmt.Errorf("metadata from %s: %w", bootstrap, err)
	}
	ids := make([]int, 0, len(bs))
	for _, b := range bs {
		ids = append(ids, b.ID)
	}
	return ids, nil
}

// waitKafka waits until metadata from every bootstrap address lists want brokers:
// a broker that answers but has not registered with the controller is not ready.
func waitKafka(ctx context.Context, d *kafka.Dialer, bootstrap []string, want int) error {
	return poll(ctx, "kafka", time.Second, func(ctx context.Context) error {
		for _, b := range bootstrap {
			ids, err := KafkaBrokers(ctx, d, b)
			if err != nil {
				return err
			}
			if len(ids) != want {
				return fmt.Errorf("%s lists brokers %v, want %d", b, ids, want)
			}
		}
		return nil
	})
}

// createTopic creates topic through the controller, tolerating an existing one.
func createTopic(ctx context.Context, d *kafka.Dialer, bootstrap, topic string, partitions, rf, minISR int) error {
	return poll(ctx, "kafka topic "+topic, time.Second, func(ctx context.Context) error {
		conn, err := d.DialContext(ctx, "tcp", bootstrap)
		if err != nil {
			return err
		}
		defer conn.Close()
		ctrl, err := conn.Controller()
		if err != nil {
			return fmt.Errorf("find controller: %w", err)
		}
		cc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
		if err != nil {
			return fmt.Errorf("dial controller: %w", err)
		}
		defer cc.Close()
		err = cc.CreateTopics(kafka.TopicConfig{
			Topic:             topic,
			NumPartitions:     partitions,
			ReplicationFactor: rf,
			ConfigEntries:     []kafka.ConfigEntry{{ConfigName: "min.insync.replicas", ConfigValue: strconv.Itoa(minISR)}},
		})
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", topic, err)
		}
		return nil
	})
}

// CQLAuth is how a CQL client proves who it is: password authentication when
// Username is set, client TLS when TLS is (verified against TLS.ServerName, else the
// address dialled).
type CQLAuth struct {
	Username, Password string
	TLS                *tls.Config
}

// CQLQuery runs a real query against one node, without discovering peers (their
// addresses are container-internal), and returns the node's release version.
func CQLQuery(ctx context.Context, hostport string, auth CQLAuth) (string, error) {
	var v string
	err := cqlSession(hostport, auth, func(s *gocql.Session) error {
		return s.Query("SELECT release_version FROM system.local").WithContext(ctx).Scan(&v)
	})
	return v, err
}

// cqlExec runs statements one after another on one node.
func cqlExec(ctx context.Context, hostport string, auth CQLAuth, stmts ...string) error {
	return cqlSession(hostport, auth, func(s *gocql.Session) error {
		for _, st := range stmts {
			if err := s.Query(st).WithContext(ctx).Exec(); err != nil {
				return err
			}
		}
		return nil
	})
}

func cqlSession(hostport string, auth CQLAuth, use func(*gocql.Session) error) error {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("cassandra address %q: %w", hostport, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return fmt.Errorf("cassandra port %q: %w", port, err)
	}
	cl := gocql.NewCluster(host)
	cl.Port = p
	cl.DisableInitialHostLookup = true
	cl.Timeout = 5 * time.Second
	cl.ConnectTimeout = 5 * time.Second
	cl.Consistency = gocql.One
	if auth.Username != "" {
		cl.Authenticator = gocql.PasswordAuthenticator{Username: auth.Username, Password: auth.Password}
	}
	if auth.TLS != nil {
		cl.SslOpts = &gocql.SslOptions{Config: auth.TLS, EnableHostVerification: true}
	}
	s, err := cl.CreateSession()
	if err != nil {
		return fmt.Errorf("cql session %s: %w", hostport, err)
	}
	defer s.Close()
	if err := use(s); err != nil {
		return fmt.Errorf("cql %s: %w", hostport, err)
	}
	return nil
}

// HTTPOK checks that url answers 2xx.
func HTTPOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
