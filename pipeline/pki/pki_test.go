package pki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"software.sslmate.com/src/go-pkcs12"
)

func parseCert(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTLSMaterialChains(t *testing.T) {
	run, err := New([]string{"mqtt", "127.0.0.1"}, "citybench-client")
	if err != nil {
		t.Fatal(err)
	}
	other, err := New([]string{"mqtt"}, "stranger")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(run.CA.Cert)

	cases := []struct {
		name   string
		cert   []byte
		opts   x509.VerifyOptions
		wantOK bool
	}{
		{"server for its DNS name", run.Server.Cert, x509.VerifyOptions{Roots: roots, DNSName: "mqtt"}, true},
		{"server for its IP", run.Server.Cert, x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1"}, true},
		{"server for another name", run.Server.Cert, x509.VerifyOptions{Roots: roots, DNSName: "kafka-1"}, false},
		{"client as client", run.Client.Cert, x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, true},
		{"client as server", run.Client.Cert, x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, false},
		{"client of another CA", other.Client.Cert, x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseCert(t, c.cert).Verify(c.opts)
			if c.wantOK && err != nil {
				t.Errorf("verify: %v", err)
			}
			if !c.wantOK && err == nil {
				t.Errorf("verified; want rejection")
			}
		})
	}
}

// TestTLSHandshake runs a real handshake with the material: the server demands a
// client certificate from the run's CA, as the broker does.
func TestTLSHandshake(t *testing.T) {
	run, err := New([]string{"127.0.0.1"}, "citybench-client")
	if err != nil {
		t.Fatal(err)
	}
	other, err := New([]string{"127.0.0.1"}, "stranger")
	if err != nil {
		t.Fatal(err)
	}
	serverCfg, err := run.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()

	good, err := run.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := other.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	stranger.RootCAs = good.RootCAs // trust the server, so only the client certificate differs
	cases := []struct {
		name   string
		cfg    *tls.Config
		wantOK bool
	}{
		{"run client", good, true},
		{"client of another CA", stranger, false},
		{"no client certificate", &tls.Config{RootCAs: good.RootCAs}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", ln.Addr().String(), c.cfg)
			if err == nil {
				// TLS 1.3 reports a rejected client certificate on the first read.
				_, err = conn.Read(make([]byte, 1))
				conn.Close()
				if err != nil && err.Error() == "EOF" {
					err = nil
				}
			}
			if c.wantOK && err != nil {
				t.Errorf("handshake: %v", err)
			}
			if !c.wantOK && err == nil {
				t.Errorf("accepted; want refusal")
			}
		})
	}
}

// TestStoresRoundTrip decodes the PKCS#12 stores again: the key store must carry the
// leaf's key, the leaf and the CA as its chain; the trust store the CA alone; and a
// wrong password must not open either.
func TestStoresRoundTrip(t *testing.T) {
	m, err := New([]string{"kafka-1", "127.0.0.1"}, "client")
	if err != nil {
		t.Fatal(err)
	}
	ks, err := m.KeyStore(m.Server, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	key, leaf, chain, err := pkcs12.DecodeChain(ks, "s3cret")
	if err != nil {
		t.Fatalf("decode key store: %v", err)
	}
	if key == nil || leaf.Subject.CommonName != "citybench broker" || len(chain) != 1 || !chain[0].IsCA {
		t.Errorf("key store: leaf %q, chain %d", leaf.Subject.CommonName, len(chain))
	}
	if _, _, _, err := pkcs12.DecodeChain(ks, "wrong"); err == nil {
		t.Error("key store opened with a wrong password")
	}
	ts, err := m.TrustStore("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pkcs12.DecodeTrustStore(ts, "s3cret")
	if err != nil {
		t.Fatalf("decode trust store: %v", err)
	}
	if len(certs) != 1 || !certs[0].IsCA {
		t.Errorf("trust store holds %d certificates, want the CA", len(certs))
	}
	if _, err := pkcs12.DecodeTrustStore(ts, "wrong"); err == nil {
		t.Error("trust store opened with a wrong password")
	}
}
