package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// publisher is what the transport needs of a live connection: autopaho's
// connection manager, or in lean mode the paho client itself.
type publisher interface {
	Publish(context.Context, *paho.Publish) (*paho.PublishResponse, error)
	Subscribe(context.Context, *paho.Subscribe) (*paho.Suback, error)
	Unsubscribe(context.Context, *paho.Unsubscribe) (*paho.Unsuback, error)
}

// errLeanPahoConfig: WithPahoConfig configures autopaho, which lean mode
// does not run.
var errLeanPahoConfig = errors.New("WithLeanConnection does not combine with WithPahoConfig (there is no autopaho configuration to adjust); use WithConnectPacket")

// WithLeanConnection runs each connection on paho.golang's client alone,
// without autopaho's connection manager: while the transport is Up, the
// only goroutines it has are paho's own (reader, pinger and delivery), as
// a bare paho client's; the transport's own supervisor goroutine exists
// only while it connects or reconnects. A connection costs about half the
// memory of one under [WithPahoClient] (autopaho keeps two goroutines
// parked per connection); the transport's own clients, the default and
// [WithMinimalClient], cost less still. Behaviour is otherwise the same:
// events, errors, reconnection with backoff, Receive Maximum, the packet
// guard, [Transport.Close].
//
// It does not combine with [WithPahoConfig], whose argument is autopaho's
// configuration; [WithConnectPacket] works as without it.
func WithLeanConnection() Option {
	return func(c *config) error {
		c.lean = true
		return nil
	}
}

// supervise is lean mode's connection goroutine: it makes attempts, with
// the transport's backoff before each, until one connects and subscribes,
// then returns. The end of that connection starts it again (see
// watchLean), so that nothing of the transport's is parked while Up.
// There is at most one supervisor at a time; t.leanDone is closed when the
// last one ends, after Close.
func (t *Transport) supervise(pc paho.ClientConfig) {
	for {
		select {
		case <-time.After(t.reconnectDelay(0)):
		case <-t.ctx.Done():
			close(t.leanDone)
			return
		}
		c, gc, ca, err := t.attemptLean(pc)
		if err != nil {
			if t.ctx.Err() != nil {
				close(t.leanDone)
				return
			}
			t.onConnectError(err)
			continue
		}
		t.mu.Lock()
		if t.closing.Load() {
			t.mu.Unlock()
			_ = c.Disconnect(&paho.Disconnect{})
			close(t.leanDone)
			return
		}
		t.client = c
		t.mu.Unlock()
		t.onConnectionUp(c, ca)
		// From here the connection's end takes over: at once if
		// onConnectionUp hung up, later otherwise. No goroutine waits
		// meanwhile.
		gc.whenEnded(func() { t.connectionLost(c, gc, pc) })
		return
	}
}

// connectionLost runs once a lean connection has ended: it waits for paho
// to have shut that client down, reports Down (onConnectionDown), and
// reconnects unless the transport is closing.
func (t *Transport) connectionLost(c leanClient, gc *guardConn, pc paho.ClientConfig) {
	// The guard may have seen the end before paho did (an aborted
	// write): closing the connection makes paho's reader notice.
	_ = gc.Close()
	<-c.Done()
	if !t.onConnectionDown() || t.ctx.Err() != nil {
		close(t.leanDone)
		return
	}
	t.supervise(pc)
}

// attemptLean opens a connection and sends CONNECT on it, within the
// connect timeout.
func (t *Transport) attemptLean(pc paho.ClientConfig) (leanClient, *guardConn, *paho.Connack, error) {
	gc, err := t.dialGuarded(t.ctx, t.url) // bounded by the connect timeout
	if err != nil {
		return nil, nil, nil, err
	}
	var c interface {
		leanClient
		Connect(context.Context, *paho.Connect) (*paho.Connack, error)
	}
	if t.cfg.minimal {
		mc := newMinClient(gc, pc)
		mc.queued = t.cfg.queued
		gc.small = !t.cfg.queued // a busy connection keeps its buffers
		c = mc
	} else {
		pc.Conn = gc
		pcl := paho.NewClient(pc)
		pcl.SetDebugLogger(pahoLogger{t.log, slog.LevelDebug - 4}) // as clientConfig gives autopaho
		pcl.SetErrorLogger(pahoLogger{t.log, slog.LevelDebug})
		c = pcl
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.connectTimeout)
	defer cancel()
	ca, err := c.Connect(ctx, t.connectPacket(&paho.Connect{}))
	if err != nil {
		_ = gc.Close()
		if ca != nil && ca.ReasonCode >= 0x80 {
			reason := ""
			if ca.Properties != nil {
				reason = ca.Properties.ReasonString
			}
			return nil, nil, nil, fmt.Errorf("mqtt: broker refused connection (reason %#x) %s", ca.ReasonCode, reason)
		}
		return nil, nil, nil, fmt.Errorf("mqtt: connect to %s: %w", t.url.Host, err)
	}
	return c, gc, ca, nil
}
