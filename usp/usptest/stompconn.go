package usptest

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gousp/gousp/datamodel"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/stomp"
)

// stompTransport is what the agent needs of a STOMP transport to show it
// as a Device.STOMP.Connection.{i}. object with its
// Device.LocalAgent.MTP.{i}.STOMP. settings; mtp/stomp's Transport has it.
type stompTransport interface {
	Settings() stomp.Settings
	SetServer(addr string, tlsCfg *tls.Config) error
	SetCredentials(login, passcode string)
	SetHost(host string)
	SetHeartBeat(send, receive time.Duration) error
	SetRetry(r stomp.Retry) error
	SetDestination(ctx context.Context, dest string) error
}

// stompApplyTimeout bounds the re-subscription a new Destination causes.
const stompApplyTimeout = 5 * time.Second

// stompBinding is one STOMP transport's objects.
type stompBinding struct {
	b    *binding
	conn string // Device.STOMP.Connection.{i}.
	mtp  string // Device.LocalAgent.MTP.{i}. ("" when the model has none)
}

// seedSTOMPConnections gives each STOMP transport a
// Device.STOMP.Connection.{i}. instance with its real settings, and
// points the agent's STOMP MTP entry at it (Reference, Destination). The
// settings are writable and apply from the next connection, as in an
// agent; Destination applies at once (see applySTOMPDestinations).
func (a *Agent) seedSTOMPConnections() {
	m := a.model
	var mtps []string
	if ins, err := m.Instances("Device.LocalAgent.MTP."); err == nil {
		for _, p := range ins {
			if v, _ := m.Get(p + "Protocol"); v == "STOMP" {
				mtps = append(mtps, p)
			}
		}
	}
	for _, b := range a.bindings {
		st, ok := b.t.(stompTransport)
		if !ok || b.t.Kind() != mtp.STOMP {
			continue
		}
		s := st.Settings()
		host, port, _ := net.SplitHostPort(s.Addr)
		hb := s.HeartBeatSend > 0 || s.HeartBeatReceive > 0
		n := len(a.stompConns) + 1
		path, err := m.AddInstance("Device.STOMP.Connection.", map[string]string{
			"Alias": "cpe-" + strconv.Itoa(n), "Enable": "true", "Status": "Enabled",
			"Host": host, "Port": port, "Username": s.Login, "VirtualHost": s.Host,
			"EnableHeartbeats":              strconv.FormatBool(hb),
			"OutgoingHeartbeat":             strconv.FormatInt(s.HeartBeatSend.Milliseconds(), 10),
			"IncomingHeartbeat":             strconv.FormatInt(s.HeartBeatReceive.Milliseconds(), 10),
			"ServerRetryInitialInterval":    strconv.Itoa(max(1, int(s.Retry.Initial/time.Second))),
			"ServerRetryIntervalMultiplier": strconv.Itoa(s.Retry.Multiplier),
			"ServerRetryMaxInterval":        strconv.Itoa(max(1, int(s.Retry.Max/time.Second))),
			"EnableEncryption":              strconv.FormatBool(s.TLS),
			"IsEncrypted":                   strconv.FormatBool(s.TLS),
		})
		if err != nil { // a model without Device.STOMP.
			return
		}
		sb := &stompBinding{b: b, conn: path}
		if len(mtps) > 0 {
			sb.mtp, mtps = mtps[0], mtps[1:]
			_ = m.Set(sb.mtp+"STOMP.Reference", strings.TrimSuffix(path, "."))
			_ = m.Set(sb.mtp+"STOMP.Destination", s.Destination)
		}
		a.mu.Lock()
		a.stompConns = append(a.stompConns, sb)
		a.mu.Unlock()
	}
}

// stompUp refreshes what a connection changed: DestinationFromServer.
func (a *Agent) stompUp(b *binding) {
	a.mu.Lock()
	conns := append([]*stompBinding(nil), a.stompConns...)
	a.mu.Unlock()
	for _, sb := range conns {
		if sb.b == b && sb.mtp != "" {
			_ = a.model.Set(sb.mtp+"STOMP.DestinationFromServer", b.t.(stompTransport).Settings().FromServer)
		}
	}
}

// stompSettingNames are the Device.STOMP.Connection.{i}. parameters
// applied to the next connection.
var stompSettingNames = []string{"Host", "Port", "Username", "Password", "VirtualHost", "EnableHeartbeats",
	"OutgoingHeartbeat", "IncomingHeartbeat", "ServerRetryInitialInterval", "ServerRetryIntervalMultiplier",
	"ServerRetryMaxInterval", "EnableEncryption"}

// stompChanged reports whether changes touch the settings of a
// Device.STOMP.Connection. or a STOMP Destination of the agent's MTPs.
func stompChanged(chs []change) (settings, dest bool) {
	for _, c := range chs {
		switch {
		case strings.HasPrefix(c.path, "Device.STOMP.Connection."):
			i := strings.LastIndexByte(c.path, '.')
			for _, n := range stompSettingNames {
				settings = settings || c.path[i+1:] == n
			}
		case strings.HasPrefix(c.path, "Device.LocalAgent.MTP.") && strings.HasSuffix(c.path, ".STOMP.Destination"):
			dest = true
		}
	}
	return settings, dest
}

// applySTOMPSettings hands each Device.STOMP.Connection.{i}.'s settings
// to its transport, for the next connection.
func (a *Agent) applySTOMPSettings() {
	a.mu.Lock()
	conns := append([]*stompBinding(nil), a.stompConns...)
	a.mu.Unlock()
	for _, sb := range conns {
		st := sb.b.t.(stompTransport)
		v, err := a.model.Values(sb.conn)
		if err != nil {
			continue
		}
		get := func(n string) string { return v[sb.conn+n] }
		num := func(n string) time.Duration {
			u, _ := datamodel.ParseUnsignedInt(get(n))
			return time.Duration(u)
		}
		s := st.Settings()
		enc, _ := datamodel.ParseBool(get("EnableEncryption"))
		if addr := net.JoinHostPort(get("Host"), get("Port")); addr != s.Addr || enc != s.TLS {
			var cfg *tls.Config
			if enc { // the system's roots
				cfg = &tls.Config{ServerName: get("Host")}
			}
			_ = st.SetServer(addr, cfg)
		}
		if get("Username") != s.Login || get("Password") != "" {
			st.SetCredentials(get("Username"), get("Password"))
		}
		st.SetHost(get("VirtualHost"))
		if hb, _ := datamodel.ParseBool(get("EnableHeartbeats")); hb {
			_ = st.SetHeartBeat(num("OutgoingHeartbeat")*time.Millisecond, num("IncomingHeartbeat")*time.Millisecond)
		} else {
			_ = st.SetHeartBeat(0, 0)
		}
		_ = st.SetRetry(stomp.Retry{Initial: num("ServerRetryInitialInterval") * time.Second,
			Multiplier: int(num("ServerRetryIntervalMultiplier")), Max: num("ServerRetryMaxInterval") * time.Second})
	}
}

// applySTOMPDestinations hands each STOMP MTP's Destination to its
// transport, which re-subscribes at once when the server did not name a
// destination of its own.
func (a *Agent) applySTOMPDestinations() {
	a.mu.Lock()
	conns := append([]*stompBinding(nil), a.stompConns...)
	a.mu.Unlock()
	for _, sb := range conns {
		if sb.mtp == "" {
			continue
		}
		st := sb.b.t.(stompTransport)
		dest, err := a.model.Get(sb.mtp + "STOMP.Destination")
		if err != nil || dest == st.Settings().Destination {
			continue
		}
		ctx, cancel := context.WithTimeout(a.runCtx, stompApplyTimeout)
		if err := st.SetDestination(ctx, dest); err != nil {
			a.log.Warn("STOMP destination not applied", "destination", dest, "err", err)
		}
		cancel()
	}
}
