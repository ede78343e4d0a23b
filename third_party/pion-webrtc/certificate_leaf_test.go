//go:build !js

package webrtc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
)

// TestCertificateTLSLeaf: the certificate handed to pion/dtls carries its
// parsed leaf, the same certificate as its DER bytes, so that dtls does not
// parse it for each handshake.
func TestCertificateTLSLeaf(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := GenerateCertificate(key)
	if err != nil {
		t.Fatal(err)
	}
	tc := cert.tlsCertificate()
	if tc.Leaf == nil {
		t.Fatal("no leaf")
	}
	if len(tc.Certificate) != 1 {
		t.Fatalf("%d certificates, want 1", len(tc.Certificate))
	}
	parsed, err := x509.ParseCertificate(tc.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if !parsed.Equal(tc.Leaf) {
		t.Fatal("the leaf is not the certificate's DER")
	}
	if tc.PrivateKey != key {
		t.Fatal("not the certificate's key")
	}
}

// TestPeerFingerprintOfDER: the peer's certificate is checked against the
// fingerprints of its description by its DER (pion/dtls parsed it
// already): the right one passes, another certificate does not, nor do
// bytes that are no certificate.
func TestPeerFingerprintOfDER(t *testing.T) {
	newCert := func() *Certificate {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := GenerateCertificate(key)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	peer, other := newCert(), newCert()
	tr, err := NewAPI().NewDTLSTransport(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fps, err := peer.GetFingerprints()
	if err != nil {
		t.Fatal(err)
	}
	tr.remoteParameters = DTLSParameters{Fingerprints: fps}
	verify := tr.verifyPeerCertificateFunc()
	if err := verify([][]byte{peer.x509Cert.Raw}, nil); err != nil {
		t.Fatalf("the peer's certificate: %v", err)
	}
	if err := verify([][]byte{other.x509Cert.Raw}, nil); !errors.Is(err, errNoMatchingCertificateFingerprint) {
		t.Fatalf("another certificate: %v", err)
	}
	if err := verify([][]byte{[]byte("not a certificate")}, nil); err == nil {
		t.Fatal("bytes that are no certificate passed")
	}
	if err := verify(nil, nil); !errors.Is(err, errNoRemoteCertificate) {
		t.Fatalf("no certificate: %v", err)
	}
	// Upper-case fingerprints, as some peers write them, match too.
	fps[0].Value = strings.ToUpper(fps[0].Value)
	tr.remoteParameters = DTLSParameters{Fingerprints: fps}
	if err := verify([][]byte{peer.x509Cert.Raw}, nil); err != nil {
		t.Fatalf("an upper-case fingerprint: %v", err)
	}
}
