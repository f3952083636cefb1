package testcert

import (
	"crypto/ecdsa"
	"crypto/x509"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	t.Parallel()
	ca := New(t, Spec{CN: "test CA", CA: true})
	leaf := New(t, Spec{CN: "relay.test", DNS: []string{"relay.test"}, Parent: &ca})
	self := New(t, Spec{CN: "self.test", DNS: []string{"self.test"}, Key: leaf.PrivateKey.(*ecdsa.PrivateKey)})

	if len(leaf.Certificate) != 2 || string(leaf.Certificate[1]) != string(ca.Leaf.Raw) {
		t.Errorf("leaf chain has %d certificates, want leaf then CA", len(leaf.Certificate))
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Leaf)
	if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: "relay.test", Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the leaf does not verify against its CA as a client certificate: %v", err)
	}
	if err := self.Leaf.CheckSignature(self.Leaf.SignatureAlgorithm, self.Leaf.RawTBSCertificate, self.Leaf.Signature); err != nil {
		t.Errorf("self-signed: %v", err)
	}
	if string(self.Leaf.RawSubjectPublicKeyInfo) != string(leaf.Leaf.RawSubjectPublicKeyInfo) {
		t.Errorf("Key was not used: the public keys differ")
	}
	if d := time.Until(self.Leaf.NotAfter); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("default NotAfter in %v, want about 24h", d)
	}
	if len(New(t, Spec{CN: "x", NoEKU: true}).Leaf.ExtKeyUsage) != 0 {
		t.Errorf("NoEKU: the certificate has extended key usages")
	}
}
