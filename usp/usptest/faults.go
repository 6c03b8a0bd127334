package usptest

import (
	"context"
	"sync"
	"time"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/proto/uspmsg"
	"github.com/gousp/gousp/record"
)

// Faults makes an [Agent] misbehave on purpose, so that tests can check how
// a controller copes. Each method changes what the agent does from then on;
// [Faults.Reset] restores normal behaviour. Its methods are safe for
// concurrent use.
type Faults struct {
	a *Agent

	mu sync.Mutex
	s  faultState // every fault, so that Reset clears them all at once
}

// faultState is what the faults set; its zero value is normal behaviour.
type faultState struct {
	wait             time.Duration
	drop             int
	fail             map[uspmsg.Header_MsgType][]msg.Code
	corrupt          int
	ignoreAcks       int
	silentOutput     bool
	ignoreE2E        bool
	clearInTLS       bool
	noIntegrityCheck bool // SkipIntegrityCheck
	wrongMAC         bool // WrongRecordMAC
	passReneg        bool
	anyPeerID        bool
	retryAtOnce      bool
	clearAfterTLS    bool
}

// Delay makes the agent wait d before handling each request (0 stops it).
// The agent handles one request at a time, so later requests and
// notifications wait too, as behind a slow device.
func (f *Faults) Delay(d time.Duration) {
	f.mu.Lock()
	f.s.wait = max(d, 0)
	f.mu.Unlock()
}

// DropNext makes the agent ignore the next n requests: no processing, no
// answer, as if they were lost on the way.
func (f *Faults) DropNext(n int) {
	f.mu.Lock()
	f.s.drop += max(n, 0)
	f.mu.Unlock()
}

// FailNext makes the agent answer the next request of type t (for example
// uspmsg.Header_SET) with an Error message of the given code, without
// processing it. Calls queue up: two calls fail the next two such requests.
func (f *Faults) FailNext(t uspmsg.Header_MsgType, code msg.Code) {
	f.mu.Lock()
	if f.s.fail == nil {
		f.s.fail = map[uspmsg.Header_MsgType][]msg.Code{}
	}
	f.s.fail[t] = append(f.s.fail[t], code)
	f.mu.Unlock()
}

// CorruptNext makes the next n records the agent sends (responses,
// notifications, connect records) arrive malformed: cut in the middle, so
// that they no longer decode.
func (f *Faults) CorruptNext(n int) {
	f.mu.Lock()
	f.s.corrupt += max(n, 0)
	f.mu.Unlock()
}

// IgnoreNotifyResp makes the agent disregard the next n NotifyResp
// messages, so that it retransmits the notifications they acknowledge.
func (f *Faults) IgnoreNotifyResp(n int) {
	f.mu.Lock()
	f.s.ignoreAcks += max(n, 0)
	f.mu.Unlock()
}

// Mute stops (true) or restarts (false) everything the agent sends; the
// agent still processes requests, so changes still happen.
func (f *Faults) Mute(on bool) {
	f.mu.Lock()
	f.s.silentOutput = on
	f.mu.Unlock()
}

// IgnoreE2ESettings makes the agent disregard (true) or follow again
// (false) its Device.LocalAgent.Controller.{i}.E2ESession settings: it
// resends records on request without the MaxRetransmitTries limit and keeps
// using a session idle longer than SessionExpiration.
func (f *Faults) IgnoreE2ESettings(on bool) {
	f.mu.Lock()
	f.s.ignoreE2E = on
	f.mu.Unlock()
}

// AcceptPlaintextInTLS makes the agent process (true) a PLAINTEXT record
// that arrives in a session context secured with TLS
// ([SessionConfig].TLS), answering it in the session, instead of failing
// it and starting a new session (TP-469 3.13).
func (f *Faults) AcceptPlaintextInTLS(on bool) {
	f.mu.Lock()
	f.s.clearInTLS = on
	f.mu.Unlock()
}

// PassRenegotiation makes the TLS sessions the agent starts from now on
// (with [SessionConfig].TLS) hand a renegotiation request to crypto/tls
// instead of ignoring it (TR-369 R-E2E.40), which ends the TLS session.
func (f *Faults) PassRenegotiation(on bool) {
	f.mu.Lock()
	f.s.passReneg = on
	f.mu.Unlock()
}

// TrustAnyEndpointID makes the TLS sessions the agent starts from now on
// (with [SessionConfig].TLS) accept a controller certificate that names
// another endpoint ID, against R-E2E.41 (TP-469 3.7).
func (f *Faults) TrustAnyEndpointID(on bool) {
	f.mu.Lock()
	f.s.anyPeerID = on
	f.mu.Unlock()
}

// RetrySessionAtOnce makes the agent (with [SessionConfig].TLS) open a
// new session context at once after a TLS handshake of its own failed,
// instead of waiting as its controller's E2ESession
// SessionRetryMinimumWaitInterval and SessionRetryIntervalMultiplier say
// (TR-369 R-E2E.10, TP-469 3.5).
func (f *Faults) RetrySessionAtOnce(on bool) {
	f.mu.Lock()
	f.s.retryAtOnce = on
	f.mu.Unlock()
}

// ClearAfterTLSFailure makes the agent (with [SessionConfig].TLS) send
// the messages it kept for a TLS handshake of its own in clear, in
// NoSessionContext records, when the controller refused the handshake
// (TP-469 3.5, metric 1).
func (f *Faults) ClearAfterTLSFailure(on bool) {
	f.mu.Lock()
	f.s.clearAfterTLS = on
	f.mu.Unlock()
}

func (f *Faults) sendingClearAfterTLSFailure() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s.clearAfterTLS
}

func (f *Faults) retryingSessionAtOnce() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s.retryAtOnce
}

func (f *Faults) trustingAnyEndpointID() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s.anyPeerID
}

func (f *Faults) passingRenegotiation() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s.passReneg
}

func (f *Faults) acceptingPlaintextInTLS() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s.clearInTLS
}

func (f *Faults) ignoringE2E() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s.ignoreE2E
}

// Reset cancels every fault.
func (f *Faults) Reset() {
	f.mu.Lock()
	f.s = faultState{}
	f.mu.Unlock()
}

// SendGarbage sends bytes that are not a USP Record to every controller
// given with [WithController].
func (f *Faults) SendGarbage(ctx context.Context) error {
	return f.toControllers(ctx, func(string) []byte {
		return []byte("\xff\xfe this is not a USP record \x00")
	})
}

// Disconnect sends a DisconnectRecord with a reason and a record error code
// (7100-7106) to every controller given with [WithController], as an agent
// does before it drops a connection. The agent keeps answering; call
// [Agent.SendConnect] to announce it again.
func (f *Faults) Disconnect(ctx context.Context, code uint32, reason string) error {
	a := f.a
	return f.toControllers(ctx, func(to string) []byte {
		b, err := record.Encode(record.NewDisconnect(a.cfg.version, to, a.id, reason, code))
		if err != nil {
			return nil
		}
		return b
	})
}

// toControllers sends what build returns to every configured controller,
// from the agent's worker.
func (f *Faults) toControllers(ctx context.Context, build func(to string) []byte) error {
	a := f.a
	if err := a.running(); err != nil {
		return err
	}
	done := make(chan struct{})
	var errs []error
	a.enqueue(func() {
		defer close(done)
		for _, c := range a.cfg.controllers {
			r, ok := a.routeTo(c.id)
			if !ok {
				errs = append(errs, ErrNoRoute)
				continue
			}
			if data := build(c.id); data != nil {
				if err := a.sendBytes(r, data); err != nil {
					errs = append(errs, err)
				}
			}
		}
	})
	if err := a.wait(ctx, done); err != nil {
		return err
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

func (f *Faults) delay() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s.wait
}

func (f *Faults) takeDrop() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.s.drop > 0 {
		f.s.drop--
		return true
	}
	return false
}

func (f *Faults) takeFail(t uspmsg.Header_MsgType) msg.Code {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.s.fail[t]
	if len(q) == 0 {
		return 0
	}
	f.s.fail[t] = q[1:]
	return q[0]
}

func (f *Faults) takeIgnoreNotifyResp() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.s.ignoreAcks > 0 {
		f.s.ignoreAcks--
		return true
	}
	return false
}

// outgoing applies the output faults to a record about to be sent: nil
// means send nothing.
func (f *Faults) outgoing(data []byte) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.s.silentOutput {
		return nil
	}
	if f.s.corrupt > 0 {
		f.s.corrupt--
		// A record cut in half fails to decode: a length-delimited field
		// now runs past the end.
		cut := make([]byte, len(data)/2+1)
		copy(cut, data)
		cut[len(cut)-1] = 0xff
		return cut
	}
	return data
}
