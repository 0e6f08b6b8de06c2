// Package pki makes throwaway certificate authorities for one run: a CA, a server
// certificate for the broker and client certificates for devices, taps and
// bridges, all in memory, and PKCS#12 key and trust stores of them for the Java
// servers (Kafka, HiveMQ). The embedded pipeline and the containers target use it
// for their mutual-TLS security profile.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// PEM is one certificate and its private key, PEM-encoded.
type PEM struct {
	Cert []byte
	Key  []byte
}

// Material is a throwaway PKI for one run: a CA, a server certificate for the
// broker and a client certificate for devices, taps and the bridge.
type Material struct {
	CA     PEM
	Server PEM
	Client PEM

	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
}

// New creates a CA and signs a server certificate valid for hosts (DNS
// names or IPs) and a client certificate with common name clientCN. Keys are P-256:
// fast to generate on every run and accepted by Mosquitto's OpenSSL.
func New(hosts []string, clientCN string) (*Material, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "citybench throwaway CA", Organization: []string{"citybench"}},
		NotBefore:             now.Add(-time.Hour), // tolerate small clock skew between host and containers
		NotAfter:              now.Add(48 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("self-sign CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("parse CA: %w", err)
	}
	m := &Material{caCert: caCert, caKey: caKey}
	if m.CA, err = encode(caDER, caKey); err != nil {
		return nil, err
	}
	if m.Server, err = m.Issue("citybench broker", hosts, x509.ExtKeyUsageServerAuth); err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	if m.Client, err = m.Issue(clientCN, nil, x509.ExtKeyUsageClientAuth); err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	return m, nil
}

// Issue signs a new leaf certificate with this CA.
// A Java server that also dials its peers (a Kafka broker replicating) presents the
// same certificate as a client, so it needs both server and client usages.
func (m *Material) Issue(cn string, hosts []string, usage ...x509.ExtKeyUsage) (PEM, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return PEM{}, fmt.Errorf("generate key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"citybench"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(48 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  usage,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, m.caCert, &key.PublicKey, m.caKey)
	if err != nil {
		return PEM{}, fmt.Errorf("sign %q: %w", cn, err)
	}
	return encode(der, key)
}

// ServerConfig is a broker's TLS configuration: this CA's server certificate, and
// client certificates required and verified against this CA.
func (m *Material) ServerConfig() (*tls.Config, error) {
	pair, err := tls.X509KeyPair(m.Server.Cert, m.Server.Key)
	if err != nil {
		return nil, fmt.Errorf("server key pair: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(m.caCert)
	return &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}, nil
}

// ClientConfig is the TLS configuration devices and taps use: trust this CA only,
// present the client certificate.
func (m *Material) ClientConfig() (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(m.CA.Cert) {
		return nil, fmt.Errorf("CA certificate does not parse")
	}
	pair, err := tls.X509KeyPair(m.Client.Cert, m.Client.Key)
	if err != nil {
		return nil, fmt.Errorf("client key pair: %w", err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// KeyStore is leaf (certificate and key) with this CA's certificate as its chain,
// as a PKCS#12 key store protected by password, which Java servers read as
// ssl.keystore.type PKCS12 (Java's default store type).
func (m *Material) KeyStore(leaf PEM, password string) ([]byte, error) {
	pair, err := tls.X509KeyPair(leaf.Cert, leaf.Key)
	if err != nil {
		return nil, fmt.Errorf("key store: %w", err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("key store: %w", err)
	}
	b, err := pkcs12.Modern.Encode(pair.PrivateKey, cert, []*x509.Certificate{m.caCert}, password)
	if err != nil {
		return nil, fmt.Errorf("key store: %w", err)
	}
	return b, nil
}

// TrustStore is this CA's certificate as a PKCS#12 trust store protected by
// password (with the attribute that makes Java trust its entries).
func (m *Material) TrustStore(password string) ([]byte, error) {
	b, err := pkcs12.Modern.EncodeTrustStore([]*x509.Certificate{m.caCert}, password)
	if err != nil {
		return nil, fmt.Errorf("trust store: %w", err)
	}
	return b, nil
}

func encode(der []byte, key *ecdsa.PrivateKey) (PEM, error) {
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return PEM{}, fmt.Errorf("marshal key: %w", err)
	}
	return PEM{
		Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Key:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand does not fail on Linux; a fixed serial would still make a valid throwaway CA.
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}
