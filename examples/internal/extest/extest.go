// Package extest holds what the examples' tests share: an output buffer that
// a test can wait on while the example still runs, output assertions, PEM
// files for TLS flags, and a usptest agent for the examples to talk to.
package extest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/usp/usptest"
)

// Output is an io.Writer safe for concurrent use whose content a test can
// wait on while the example is still writing to it.
type Output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

// Write appends p and wakes up the waiters.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, err := o.buf.Write(p)
	if o.changed != nil {
		close(o.changed)
		o.changed = nil
	}
	return n, err
}

// String returns everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// WaitFor waits until the output matches the regular expression re and
// returns the submatches of its first match. It fails the test if ctx ends
// first.
func (o *Output) WaitFor(ctx context.Context, t testing.TB, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	for {
		o.mu.Lock()
		m := rx.FindStringSubmatch(o.buf.String())
		if o.changed == nil {
			o.changed = make(chan struct{})
		}
		ch := o.changed
		o.mu.Unlock()
		if m != nil {
			return m
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("output never matched %q: %v\n%s", re, ctx.Err(), o.String())
			return nil
		}
	}
}

// Check reports every regular expression of want that out does not match.
func Check(t testing.TB, out string, want ...string) {
	t.Helper()
	for _, re := range want {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output lacks %q", re)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// WritePEM writes a CA certificate, or a certificate chain and its key,
// as PEM files in a temporary directory of the test, for the examples'
// --tls-ca, --tls-cert and --tls-key flags.
func WritePEM(t testing.TB, ca *x509.Certificate, cert *tls.Certificate) (caFile, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, blocks ...*pem.Block) string {
		var b []byte
		for _, blk := range blocks {
			b = append(b, pem.EncodeToMemory(blk)...)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if ca != nil {
		caFile = write("ca.pem", &pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	}
	if cert != nil {
		var chain []*pem.Block
		for _, der := range cert.Certificate {
			chain = append(chain, &pem.Block{Type: "CERTIFICATE", Bytes: der})
		}
		certFile = write("cert.pem", chain...)
		key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		keyFile = write("key.pem", &pem.Block{Type: "PRIVATE KEY", Bytes: key})
	}
	return caFile, certFile, keyFile
}

// StartAgent starts a usptest agent with endpoint ID id on tr, knowing the
// controller ctrlID at ctrlAddr, and closes it when the test ends. The agent
// makes no Boot! subscription of its own, so that the example's are the
// only ones on it.
func StartAgent(ctx context.Context, t testing.TB, id string, tr mtp.Transport, ctrlID string, ctrlAddr mtp.Address) *usptest.Agent {
	t.Helper()
	agent, err := usptest.NewAgent(id, usptest.WithTransport(tr),
		usptest.WithController(ctrlID, ctrlAddr),
		usptest.WithoutBootSubscription())
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = agent.Close(context.Background()) })
	return agent
}

// CheckCleanedUp reports the subscriptions an example left on the agent and
// the notifications it never answered (those that asked for a NotifyResp).
func CheckCleanedUp(t testing.TB, agent *usptest.Agent) {
	t.Helper()
	if subs, _ := agent.Model().Instances("Device.LocalAgent.Subscription."); len(subs) != 0 {
		t.Errorf("subscriptions left on the agent: %v", subs)
	}
	// The last NotifyResp may still be on its way to the agent.
	deadline := time.Now().Add(2 * time.Second)
	for len(agent.PendingNotifications()) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if p := agent.PendingNotifications(); len(p) != 0 {
		t.Errorf("notifications never answered: %v", p)
	}
}
