package conformance

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/testcert"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/stomp"
)

// brokenSTOMP is an agent's STOMP transport that accepts some of its
// settings and does nothing with them: a writable parameter that changes
// nothing.
type brokenSTOMP struct {
	*stomp.Transport
	ignoreDest, ignoreHeartBeat, ignoreRetry bool
}

func (b brokenSTOMP) SetDestination(ctx context.Context, dest string) error {
	if b.ignoreDest {
		return nil
	}
	return b.Transport.SetDestination(ctx, dest)
}

func (b brokenSTOMP) SetHeartBeat(send, receive time.Duration) error {
	if b.ignoreHeartBeat {
		return nil
	}
	return b.Transport.SetHeartBeat(send, receive)
}

func (b brokenSTOMP) SetRetry(r stomp.Retry) error {
	if b.ignoreRetry {
		return nil
	}
	return b.Transport.SetRetry(r)
}

// TestSTOMPConfigFaults: an agent that ignores its STOMP settings fails
// 6.3, 6.6, 6.7, 6.8 and 6.10 on the right criterion, with the frames in
// the evidence.
func TestSTOMPConfigFaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		id     string
		broken brokenSTOMP
		opts   []stomp.Option
		metric int
		detail string
		note   string
	}{
		{"Destination not applied at once", "6.10", brokenSTOMP{ignoreDest: true}, nil, 1, "no UNSUBSCRIBE", "the agent subscribed to"},
		{"Destination not applied after reboot", "6.6", brokenSTOMP{ignoreDest: true}, nil, 1, "not \"/queue/tp469-", "agent's new client STOMP"},
		{"session kept without a destination", "6.7", brokenSTOMP{ignoreDest: true}, nil, 1, "the agent kept the session", "agent's frames after CONNECTED: client SUBSCRIBE"},
		{"heart-beat settings not applied", "6.8", brokenSTOMP{ignoreHeartBeat: true}, nil, 1, `heart-beat "30000,30000"`, "agent's new client STOMP"},
		{"retry settings not applied", "6.3", brokenSTOMP{ignoreRetry: true},
			[]stomp.Option{stomp.WithReconnectBackoff(2*time.Second, 4*time.Second)}, 1, "retry 1 came", "attempt 2: refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := wireFaults{stomp: tc.opts, wrapSTOMP: func(tr *stomp.Transport) mtp.Transport {
				b := tc.broken
				b.Transport = tr
				return b
			}}
			eq, _ := benchFaulty(t, "stomp-kit", f)
			res := runOne(t, eq, tc.id, nil)
			t.Logf("%s", TextEvidence(res))
			if res.Verdict != Fail {
				t.Fatalf("%s: verdict %s (%s), want fail\n%s", res.ID, res.Verdict, res.Reason, TextEvidence(res))
			}
			failed := res.Failed()
			if len(failed) == 0 || failed[0].Metric != tc.metric || !strings.Contains(failed[0].Detail, tc.detail) {
				t.Errorf("%s: failed criteria %+v, want metric %d with %q", res.ID, failed, tc.metric, tc.detail)
			}
			if notes := strings.Join(res.Notes, "\n"); !strings.Contains(notes, tc.note) {
				t.Errorf("%s: evidence lacks %q:\n%s", res.ID, tc.note, notes)
			}
			if len(res.Cleanup) > 0 {
				t.Errorf("%s: cleanup failed: %v", res.ID, res.Cleanup)
			}
		})
	}
}

// TestSTOMPHeartBeat runs 6.8, whose plan waits a minute, against
// usptest through the kit's STOMP tap.
func TestSTOMPHeartBeat(t *testing.T) {
	if testing.Short() {
		t.Skip("6.8 waits 60 s by design")
	}
	t.Parallel()
	eq, _ := bench(t, "stomp-kit")
	res := runOne(t, eq, "6.8", nil)
	t.Logf("%s", TextEvidence(res))
	if res.Verdict != Pass {
		t.Fatalf("6.8: %s (%s)\n%s", res.Verdict, res.Reason, TextEvidence(res))
	}
	if len(res.Cleanup) > 0 {
		t.Errorf("cleanup failed: %v", res.Cleanup)
	}
}

// TestSTOMPTLS runs 6.11 with the kit's tap presenting a certificate
// usptest trusts: it passes; an agent that goes back to plain TCP after
// the reboot fails it.
func TestSTOMPTLS(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := testcert.New(t)
	t.Run("TLS", func(t *testing.T) {
		t.Parallel()
		eq, _ := benchFaulty(t, "stomp-kit", wireFaults{stompTLS: [2]*tls.Config{serverTLS, clientTLS}})
		res := runOne(t, eq, "6.11", nil)
		t.Logf("%s", TextEvidence(res))
		if res.Verdict != Pass {
			t.Fatalf("6.11: %s (%s)\n%s", res.Verdict, res.Reason, TextEvidence(res))
		}
	})
	t.Run("plain after the reboot", func(t *testing.T) {
		t.Parallel()
		var dials atomic.Int32
		dial := stomp.WithDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			if dials.Add(1) == 1 {
				d := tls.Dialer{Config: clientTLS}
				return d.DialContext(ctx, "tcp", addr)
			}
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		})
		eq, _ := benchFaulty(t, "stomp-kit", wireFaults{stompTLS: [2]*tls.Config{serverTLS, nil}, stomp: []stomp.Option{dial}})
		res := runOne(t, eq, "6.11", nil)
		t.Logf("%s", TextEvidence(res))
		if res.Verdict != Fail {
			t.Fatalf("6.11: verdict %s (%s), want fail\n%s", res.Verdict, res.Reason, TextEvidence(res))
		}
		if f := res.Failed(); len(f) == 0 || f[0].Metric != 1 || !strings.Contains(f[0].Detail, "plain TCP") {
			t.Errorf("failed criteria %+v", f)
		}
	})
}
