//go:build !js

package webrtc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
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
