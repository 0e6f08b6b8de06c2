package service

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writePEMs writes a self-signed certificate and its key, usable as CA and as
// client certificate.
func writePEMs(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "citybench-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestLoadTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := writePEMs(t, dir)
	notPEM := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name            string
		ca, cert, key   string
		wantNil         bool
		wantRoots       bool
		wantCerts       int
		wantErrContains string
	}{
		{name: "plain", wantNil: true},
		{name: "server auth only", ca: cert, wantRoots: true},
		{name: "mutual", ca: cert, cert: cert, key: key, wantRoots: true, wantCerts: 1},
		{name: "client cert with system roots", cert: cert, key: key, wantCerts: 1},
		{name: "CA without PEM", ca: notPEM, wantErrContains: "no PEM"},
		{name: "missing CA", ca: filepath.Join(dir, "nope.pem"), wantErrContains: "CA"},
		{name: "key does not parse", cert: cert, key: notPEM, wantErrContains: "client certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadTLS(tc.ca, tc.cert, tc.key)
			if tc.wantErrContains != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrContains) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErrContains)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != tc.wantNil {
				t.Fatalf("config %v, want nil=%v", got, tc.wantNil)
			}
			if got == nil {
				return
			}
			if (got.RootCAs != nil) != tc.wantRoots || len(got.Certificates) != tc.wantCerts {
				t.Fatalf("roots set=%v certs=%d, want %v and %d", got.RootCAs != nil, len(got.Certificates), tc.wantRoots, tc.wantCerts)
			}
		})
	}
}

// TestSecuritySettings: the Kafka and Cassandra settings turn TLS on from their PEM
// files (with the server name Cassandra's certificates carry) and SASL from the
// mechanism; without files both stay plaintext.
func TestSecuritySettings(t *testing.T) {
	cert, key := writePEMs(t, t.TempDir())
	c := Config{KafkaCA: cert, KafkaCert: cert, KafkaKey: key, KafkaSASLMechanism: "SCRAM-SHA-512", KafkaUsername: "u", KafkaPassword: "p",
		CassandraCA: cert, CassandraServerName: "cassandra"}
	k, err := c.KafkaSecurity()
	if err != nil {
		t.Fatal(err)
	}
	if k.TLS == nil || len(k.TLS.Certificates) != 1 || k.Mechanism != "SCRAM-SHA-512" || k.Username != "u" {
		t.Errorf("kafka security %+v", k)
	}
	ct, err := c.CassandraTLS()
	if err != nil {
		t.Fatal(err)
	}
	if ct == nil || ct.ServerName != "cassandra" || ct.RootCAs == nil {
		t.Errorf("cassandra tls %+v", ct)
	}
	var plain Config
	if k, err := plain.KafkaSecurity(); err != nil || k.Enabled() {
		t.Errorf("plaintext kafka: %+v %v", k, err)
	}
	if ct, err := plain.CassandraTLS(); err != nil || ct != nil {
		t.Errorf("plaintext cassandra: %v %v", ct, err)
	}
	if _, err := (Config{KafkaCA: filepath.Join(t.TempDir(), "missing.pem")}).KafkaSecurity(); err == nil || !strings.Contains(err.Error(), "kafka") {
		t.Errorf("missing kafka CA: %v", err)
	}
}
