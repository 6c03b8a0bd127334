package stomp_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-stomp/stomp/v3/frame"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/stomp"
)

// TestSetDestinationResubscribes: a new configured destination moves the
// live subscription (UNSUBSCRIBE, then SUBSCRIBE), reports Up with the
// new local address and names it in reply-to-dest (TP-469 6.10).
func TestSetDestinationResubscribes(t *testing.T) {
	srv := newFakeServer(t)
	tr, rec, _ := start(t, srv.addr(), "proto::a", stomp.WithDestination("/queue/old"))
	c := srv.next(t)
	oldID := c.subscribe.Header.Get(frame.Id)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		done <- tr.SetDestination(ctx, "/queue/new")
	}()
	f := c.readFrame(t)
	if f.Command != frame.UNSUBSCRIBE || f.Header.Get(frame.Id) != oldID {
		t.Fatalf("first frame after SetDestination: %s id %q, want UNSUBSCRIBE id %q", f.Command, f.Header.Get(frame.Id), oldID)
	}
	if r := f.Header.Get(frame.Receipt); r != "" {
		_ = c.w.Write(frame.New(frame.RECEIPT, frame.ReceiptId, r))
	}
	f = c.readFrame(t)
	if f.Command != frame.SUBSCRIBE || f.Header.Get(frame.Destination) != "/queue/new" {
		t.Fatalf("then %s to %q, want SUBSCRIBE to /queue/new", f.Command, f.Header.Get(frame.Destination))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if up := rec.Event(mtp.Up); up.Local.To != "/queue/new" {
		t.Fatalf("Up.Local = %v", up.Local)
	}
	send(t, tr, "/queue/controller", "x")
	if f := c.readFrame(t); f.Header.Get(stomp.HeaderReplyToDest) != "/queue/new" {
		t.Fatalf("reply-to-dest %q", f.Header.Get(stomp.HeaderReplyToDest))
	}
	if s := tr.Settings(); s.Destination != "/queue/new" || s.FromServer != "" {
		t.Fatalf("Settings %+v", s)
	}
}

// TestSetDestinationKeepsSubscribeDest: the server's subscribe-dest wins
// over a new configured destination; an empty one does not end the
// session either.
func TestSetDestinationKeepsSubscribeDest(t *testing.T) {
	srv := newFakeServer(t, stomp.HeaderSubscribeDest, "/queue/server")
	tr, rec, _ := start(t, srv.addr(), "proto::a", stomp.WithDestination("/queue/old"))
	c := srv.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for _, d := range []string{"/queue/new", ""} {
		if err := tr.SetDestination(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	c.message(t, "body", "still here")
	if got := rec.Record(); string(got.Data) != "still here" {
		t.Fatalf("got %q", got.Data)
	}
	if s := tr.Settings(); s.Destination != "" || s.FromServer != "/queue/server" {
		t.Fatalf("Settings %+v", s)
	}
}

// TestSetDestinationEmptyEndsSession: without a destination of the
// server's, an empty one ends the session (R-STOMP.16), and the next
// connections end at once too.
func TestSetDestinationEmptyEndsSession(t *testing.T) {
	srv := newFakeServer(t)
	tr, rec, _ := start(t, srv.addr(), "proto::a", stomp.WithDestination("/queue/old"))
	srv.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := tr.SetDestination(ctx, ""); err != nil {
		t.Fatal(err)
	}
	rec.Event(mtp.Down)
	// The next connection gets a CONNECTED without subscribe-dest, and
	// the transport answers it with DISCONNECT.
	c := srv.next(t)
	if c.subscribe.Command != frame.DISCONNECT {
		t.Fatalf("after CONNECTED without a destination the transport sent %s %q, want DISCONNECT",
			c.subscribe.Command, c.subscribe.Header.Get(frame.Destination))
	}
}

// TestSettingsApplyToNextConnection: credentials, virtual host and
// heart-beat set at run time go into the next STOMP frame, not the
// current one.
func TestSettingsApplyToNextConnection(t *testing.T) {
	srv := newFakeServer(t)
	tr, rec, _ := start(t, srv.addr(), "proto::a", stomp.WithDestination("/queue/a"), stomp.WithHeartBeat(0, 0))
	c := srv.next(t)
	tr.SetCredentials("user", "secret")
	tr.SetHost("vhost")
	if err := tr.SetHeartBeat(15*time.Second, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := tr.SetHeartBeat(-1, 0); err == nil {
		t.Fatal("negative heart-beat accepted")
	}
	if err := tr.SetRetry(stomp.Retry{Initial: 20 * time.Millisecond, Multiplier: 999, Max: time.Second}); err == nil {
		t.Fatal("multiplier below 1000 accepted")
	}
	s := tr.Settings()
	if s.Login != "user" || s.Host != "vhost" || s.HeartBeatSend != 15*time.Second || s.HeartBeatReceive != 10*time.Second {
		t.Fatalf("Settings %+v", s)
	}
	c.Close()
	rec.Event(mtp.Down)
	c2 := srv.next(t)
	for k, want := range map[string]string{frame.Login: "user", frame.Passcode: "secret", frame.Host: "vhost", frame.HeartBeat: "15000,10000"} {
		if got := c2.connect.Header.Get(k); got != want {
			t.Errorf("next STOMP frame %s = %q, want %q", k, got, want)
		}
	}
}
