package usptest

import (
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/mtp"
)

// wsClient is what the agent needs of a WebSocket client transport to
// show it in Device.LocalAgent.Controller.{i}.MTP.{i}.WebSocket. and to
// follow that object's session retry parameters; mtp/websocket's Client
// has it.
type wsClient interface {
	URL() string
	PeerID() string
	State() mtp.State
	SetRetryPolicy(m time.Duration, k int) error
}

// wsListener is what the agent needs of a WebSocket server transport to
// show its listener in Device.LocalAgent.MTP.{i}.WebSocket.
type wsListener interface {
	Addr() net.Addr
	URL() string
}

// wsServer is what the agent needs of a WebSocket server transport to
// keep one session per controller (R-WS.4): its sessions and a way to end
// one; mtp/websocket's Server has it.
type wsServer interface {
	Peers() []string
	Disconnect(peerID, reason string) error
}

// wsControllerMTPs returns the Controller.{i}.MTP.{i}. instances whose
// Protocol is WebSocket.
func (a *Agent) wsControllerMTPs() []string {
	m := a.model
	var out []string
	ctrls, _ := m.Instances("Device.LocalAgent.Controller.")
	for _, c := range ctrls {
		mtps, _ := m.Instances(c + "MTP.")
		for _, p := range mtps {
			if v, _ := m.Get(p + "Protocol"); v == "WebSocket" {
				out = append(out, p)
			}
		}
	}
	return out
}

// seedWSClients writes where each WebSocket client dials into the
// controller's MTP entry. The entry's session retry parameters (R-WS.19)
// reach the client when they differ from TR-181's defaults, here or once
// written later (applyWSRetry, from onChanges): while they are the
// defaults the client keeps the backoff it was built with
// (websocket.WithBackoff), which a test that set it expects to hold.
func (a *Agent) seedWSClients() {
	entries := a.wsControllerMTPs()
	i := 0
	for _, b := range a.bindings {
		c, ok := b.t.(wsClient)
		if !ok || b.t.Kind() != mtp.WebSocket || i >= len(entries) {
			continue
		}
		p := entries[i] + "WebSocket."
		i++
		if u, err := url.Parse(c.URL()); err == nil {
			port := u.Port()
			if port == "" {
				port = map[string]string{"ws": "80", "wss": "443"}[u.Scheme]
			}
			_ = a.model.Set(p+"Host", u.Hostname())
			_ = a.model.Set(p+"Port", port)
			_ = a.model.Set(p+"Path", strings.TrimPrefix(u.Path, "/"))
			_ = a.model.Set(p+"EnableEncryption", strconv.FormatBool(u.Scheme == "wss"))
		}
	}
	a.applyWSRetryFrom(false)
}

// applyWSRetry hands SessionRetryMinimumWaitInterval and
// SessionRetryIntervalMultiplier of the WebSocket MTP entries to the
// WebSocket clients, in order, for their next wait.
func (a *Agent) applyWSRetry() { a.applyWSRetryFrom(true) }

// TR-181's defaults of SessionRetryMinimumWaitInterval and
// SessionRetryIntervalMultiplier.
const wsRetryDefaultMin, wsRetryDefaultMult = 5, 2000

// applyWSRetryFrom is applyWSRetry; with defaults false it leaves a client
// whose entry holds TR-181's defaults alone.
func (a *Agent) applyWSRetryFrom(defaults bool) {
	entries := a.wsControllerMTPs()
	i := 0
	for _, b := range a.bindings {
		c, ok := b.t.(wsClient)
		if !ok || b.t.Kind() != mtp.WebSocket || i >= len(entries) {
			continue
		}
		vals, err := a.model.Values(entries[i] + "WebSocket.")
		i++
		if err != nil {
			continue
		}
		p := entries[i-1] + "WebSocket."
		secs, err1 := datamodel.ParseUnsignedInt(vals[p+"SessionRetryMinimumWaitInterval"])
		k, err2 := datamodel.ParseUnsignedInt(vals[p+"SessionRetryIntervalMultiplier"])
		if err1 != nil || err2 != nil || secs == 0 {
			continue
		}
		if !defaults && secs == wsRetryDefaultMin && k == wsRetryDefaultMult {
			continue
		}
		_ = c.SetRetryPolicy(time.Duration(secs)*time.Second, int(max(k, 1000)))
	}
}

// wsRetryChanged reports whether changes touch a WebSocket session retry
// parameter.
func wsRetryChanged(chs []change) bool {
	return slices.ContainsFunc(chs, func(c change) bool {
		return strings.HasPrefix(c.path, "Device.LocalAgent.Controller.") &&
			(strings.HasSuffix(c.path, ".WebSocket.SessionRetryMinimumWaitInterval") ||
				strings.HasSuffix(c.path, ".WebSocket.SessionRetryIntervalMultiplier"))
	})
}

// seedWSServers writes the port and path of each listening WebSocket
// server into the agent's own MTP entry for it, as controllers read them
// to reach the agent (R-WS.6).
func (a *Agent) seedWSServers() {
	m := a.model
	mtps, _ := m.Instances("Device.LocalAgent.MTP.")
	var ws []string
	for _, p := range mtps {
		if v, _ := m.Get(p + "Protocol"); v == "WebSocket" {
			ws = append(ws, p)
		}
	}
	i := 0
	for _, b := range a.bindings {
		s, ok := b.t.(wsListener)
		if !ok || b.t.Kind() != mtp.WebSocket || i >= len(ws) {
			continue
		}
		p := ws[i] + "WebSocket."
		i++
		addr := s.Addr()
		if addr == nil {
			continue
		}
		_, port, _ := net.SplitHostPort(addr.String())
		u, _ := url.Parse(s.URL())
		_ = m.Set(p+"Port", port)
		if u != nil {
			_ = m.Set(p+"Path", strings.TrimPrefix(u.Path, "/"))
			_ = m.Set(p+"EnableEncryption", strconv.FormatBool(u.Scheme == "wss"))
		}
	}
}

// isWSClient reports whether a transport is a WebSocket client: it dials
// the controller, so it is no MTP the agent offers in
// Device.LocalAgent.MTP.{i}.
func isWSClient(t mtp.Transport) bool {
	_, ok := t.(wsClient)
	return ok && t.Kind() == mtp.WebSocket
}

// secondWSSession ends a session that controller peer opened to b, a
// WebSocket server, while another WebSocket transport of the agent already
// has one with it: USP endpoints keep at most one WebSocket session
// between them (R-WS.4), and the agent keeps the older. It reports whether
// it ended the session.
func (a *Agent) secondWSSession(b *binding, peer string) bool {
	s, ok := b.t.(wsServer)
	if !ok || b.t.Kind() != mtp.WebSocket {
		return false
	}
	for _, o := range a.bindings {
		if o == b || o.t.Kind() != mtp.WebSocket {
			continue
		}
		open := false
		switch t := o.t.(type) {
		case wsClient:
			open = t.State() == mtp.Connected && t.PeerID() == peer
		case wsServer:
			open = slices.Contains(t.Peers(), peer)
		}
		if open {
			a.log.Info("refusing a second WebSocket session", "peer", peer)
			_ = s.Disconnect(peer, "the endpoints already have a WebSocket session (R-WS.4)")
			return true
		}
	}
	return false
}
