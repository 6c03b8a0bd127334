package embedbroker_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/internal/embedbroker"
)

// seen is one intercepted packet.
type seen struct {
	out bool
	c   embedbroker.Client
	p   embedbroker.Packet
}

// tape records every intercepted packet and lets some be changed.
type tape struct {
	mu  sync.Mutex
	log []seen
	// disconnected receives the client ID of each DISCONNECT.
	disconnected chan string
	in, out      func(embedbroker.Client, *embedbroker.Packet) bool
}

func newTape() *tape { return &tape{disconnected: make(chan string, 16)} }

func (tp *tape) Inbound(c embedbroker.Client, p *embedbroker.Packet) bool {
	tp.mu.Lock()
	tp.log = append(tp.log, seen{c: c, p: *p})
	tp.mu.Unlock()
	if p.Type == embedbroker.PacketDisconnect {
		tp.disconnected <- c.ID
	}
	return tp.in == nil || tp.in(c, p)
}

func (tp *tape) Outbound(c embedbroker.Client, p *embedbroker.Packet) bool {
	ok := tp.out == nil || tp.out(c, p)
	tp.mu.Lock()
	tp.log = append(tp.log, seen{out: true, c: c, p: *p})
	tp.mu.Unlock()
	return ok
}

// of returns what was seen of one client.
func (tp *tape) of(id string) []seen {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	var out []seen
	for _, s := range tp.log {
		if s.c.ID == id {
			out = append(out, s)
		}
	}
	return out
}

func (tp *tape) waitDisconnect(t *testing.T, id string) {
	t.Helper()
	for {
		select {
		case got := <-tp.disconnected:
			if got == id {
				return
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no DISCONNECT from %s", id)
		}
	}
}

func TestInterceptorSeesEveryPacket(t *testing.T) {
	tp := newTape()
	b := start(t, embedbroker.Config{Interceptor: tp})
	c := dial(t, b, "", func(_ *paho.ClientConfig, cp *paho.Connect) {
		cp.Username, cp.UsernameFlag, cp.Password, cp.PasswordFlag = "u", true, []byte("p"), true
		cp.WillMessage = &paho.WillMessage{Topic: "w/t", Payload: []byte("bye"), QoS: 1}
		cp.Properties = &paho.ConnectProperties{User: paho.UserProperties{{Key: "k", Value: "v"}}}
	})
	id := c.ack.Properties.AssignedClientID
	if !strings.HasPrefix(id, "embedbroker-") {
		t.Fatalf("assigned client ID %q", id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	subID := 7
	if _, err := c.cli.Subscribe(ctx, &paho.Subscribe{Properties: &paho.SubscribeProperties{SubscriptionIdentifier: &subID},
		Subscriptions: []paho.SubscribeOptions{{Topic: "h/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	c.pub(t, "h/1", 1, "p", &paho.PublishProperties{ContentType: "usp.msg"})
	got := c.recv(t)
	if _, err := c.cli.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{"h/#"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.cli.Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	tp.waitDisconnect(t, id)

	// The client's PUBACK of the message it got back races with its
	// UNSUBSCRIBE (paho acknowledges on another goroutine): checked apart.
	// paho pings when it likes: its PINGREQs are left out.
	var types []string
	var acked bool
	var log []seen
	for _, s := range tp.of(id) {
		if !s.out && s.p.Type == embedbroker.PacketPuback {
			acked = acked || s.p.ID == got.PacketID
			continue
		}
		if s.p.Type == embedbroker.PacketPingreq || s.p.Type == embedbroker.PacketPingresp {
			continue
		}
		dir := "in "
		if s.out {
			dir = "out "
		}
		types = append(types, dir+s.p.Type.String())
		log = append(log, s)
	}
	want := []string{"in CONNECT", "out CONNACK", "in SUBSCRIBE", "out SUBACK", "in PUBLISH", "out PUBACK",
		"in UNSUBSCRIBE", "out UNSUBACK", "in DISCONNECT"}
	if !slices.Equal(types, want) {
		t.Fatalf("packets %q, want %q", types, want)
	}
	if !acked {
		t.Error("the client's PUBACK of the delivered message was not seen")
	}
	connect, connack, sub, suback, pub, puback, unsub, unsuback := log[0].p, log[1].p, log[2].p, log[3].p, log[4].p, log[5].p, log[6].p, log[7].p
	ci := connect.Connect
	if ci == nil || ci.ClientID != "" || ci.Version != 5 || ci.Username != "u" || !ci.HasUsername || string(ci.Password) != "p" ||
		!ci.HasPassword || ci.KeepAlive != 30 || ci.Will == nil || ci.Will.Topic != "w/t" || string(ci.Will.Payload) != "bye" {
		t.Errorf("CONNECT %+v", ci)
	}
	if log[0].c.Version != 5 || log[0].c.Remote == nil {
		t.Errorf("client %+v", log[0].c)
	}
	if connect.Props == nil || len(connect.Props.User) != 1 || connect.Props.User[0] != (embedbroker.UserProperty{Key: "k", Value: "v"}) {
		t.Errorf("CONNECT properties %+v", connect.Props)
	}
	if p := connack.Props; connack.ReasonCode != 0 || p == nil || p.ReceiveMaximum == nil || *p.ReceiveMaximum != 1024 ||
		p.MaximumQoS == nil || *p.MaximumQoS != 1 || p.AssignedClientID != id {
		t.Errorf("CONNACK %d %+v", connack.ReasonCode, p)
	}
	if len(sub.Subscriptions) != 1 || sub.Subscriptions[0] != (embedbroker.Subscription{Filter: "h/#", QoS: 1}) ||
		sub.Props == nil || !slices.Equal(sub.Props.SubscriptionIDs, []uint32{7}) || sub.ID == 0 {
		t.Errorf("SUBSCRIBE %+v props %+v", sub, sub.Props)
	}
	if suback.ID != sub.ID || !bytes.Equal(suback.Reasons, []byte{1}) {
		t.Errorf("SUBACK %+v", suback)
	}
	if pub.Topic != "h/1" || string(pub.Payload) != "p" || pub.QoS != 1 || pub.ID == 0 || pub.Props == nil || pub.Props.ContentType != "usp.msg" {
		t.Errorf("PUBLISH %+v", pub)
	}
	if puback.ID != pub.ID || puback.ReasonCode != 0 {
		t.Errorf("PUBACK %+v", puback)
	}
	if !slices.Equal(unsub.Filters, []string{"h/#"}) || unsuback.ID != unsub.ID || !bytes.Equal(unsuback.Reasons, []byte{0}) {
		t.Errorf("UNSUBSCRIBE %+v, UNSUBACK %+v", unsub, unsuback)
	}
}

// TestInterceptorMQTT311: a 3.1.1 client's packets come without
// properties, and its SUBACK shows the 3.1.1 failure code.
func TestInterceptorMQTT311(t *testing.T) {
	tp := newTape()
	b := start(t, embedbroker.Config{Interceptor: tp, ACL: func(_, topic string, _ bool) bool { return topic != "secret" }})
	old := brokertest.DialMQTT311(t, b.URL(), "old")
	if err := old.Subscribe("secret", 1); err == nil {
		t.Fatal("subscription to a refused filter granted")
	}
	log := tp.of("old")
	if len(log) != 4 {
		t.Fatalf("%d packets: %+v", len(log), log)
	}
	connect, connack, suback := log[0].p, log[1].p, log[3].p
	if connect.Connect == nil || connect.Connect.Version != 4 || connect.Props != nil || log[0].c.Version != 4 {
		t.Errorf("CONNECT %+v props %+v", connect.Connect, connect.Props)
	}
	if connack.Type != embedbroker.PacketConnack || connack.Props != nil || connack.ReasonCode != 0 {
		t.Errorf("CONNACK %+v", connack)
	}
	if suback.Type != embedbroker.PacketSuback || !bytes.Equal(suback.Reasons, []byte{0x80}) {
		t.Errorf("SUBACK %+v", suback)
	}
}

// TestInterceptorShapesConnack adds the CONNACK properties a broker can
// tell a USP endpoint (Response Information, a subscribe-topic).
func TestInterceptorShapesConnack(t *testing.T) {
	tp := newTape()
	tp.out = func(c embedbroker.Client, p *embedbroker.Packet) bool {
		if p.Type == embedbroker.PacketConnack && p.Props != nil {
			p.Props.ResponseInfo = "reply/" + c.ID
			p.Props.User = append(p.Props.User, embedbroker.UserProperty{Key: "subscribe-topic", Value: "extra/#"})
			p.ReasonCode = 0x87 // ignored: the connection goes on
		}
		return true
	}
	b := start(t, embedbroker.Config{Interceptor: tp})
	c := dial(t, b, "shaped", nil)
	if p := c.ack.Properties; c.ack.ReasonCode != 0 || p.ResponseInfo != "reply/shaped" || p.User.Get("subscribe-topic") != "extra/#" ||
		p.ReceiveMaximum == nil || *p.ReceiveMaximum != 1024 {
		t.Fatalf("CONNACK %d %+v", c.ack.ReasonCode, p)
	}
	c.sub(t, "reply/shaped", 1)
	c.pub(t, "reply/shaped", 1, "x", nil)
	c.recv(t)
	// A 3.1.1 CONNACK has no properties to add.
	_ = brokertest.DialMQTT311(t, b.URL(), "old")
}

// TestInterceptorDropsAndRewrites: a dropped PUBLISH is neither routed
// nor acknowledged, a changed one is routed as changed, and a dropped
// SUBSCRIBE gets no SUBACK.
func TestInterceptorDropsAndRewrites(t *testing.T) {
	tp := newTape()
	tp.in = func(_ embedbroker.Client, p *embedbroker.Packet) bool {
		switch {
		case p.Type == embedbroker.PacketPublish && p.Topic == "hole":
			return false
		case p.Type == embedbroker.PacketPublish && p.Topic == "rewrite":
			p.Topic, p.Payload, p.Props.ContentType = "rewritten", []byte("new"), "changed"
		case p.Type == embedbroker.PacketSubscribe && p.Subscriptions[0].Filter == "ignored":
			return false
		}
		return true
	}
	b := start(t, embedbroker.Config{Interceptor: tp})
	sub := dial(t, b, "sub", nil)
	for _, f := range []string{"hole", "rewrite", "rewritten", "sync"} {
		sub.sub(t, f, 1)
	}
	pub := dial(t, b, "pub", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := pub.cli.Publish(ctx, &paho.Publish{Topic: "hole", QoS: 1, Payload: []byte("lost")}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("publish to the hole: %v, want no PUBACK", err)
	}
	pub.pub(t, "rewrite", 1, "old", &paho.PublishProperties{ContentType: "usp.msg"})
	if p := sub.recv(t); p.Topic != "rewritten" || string(p.Payload) != "new" || p.Properties.ContentType != "changed" {
		t.Fatalf("got %s %q %+v", p.Topic, p.Payload, p.Properties)
	}
	sub.none(t, pub, "sync") // nothing from the hole came first

	raw := rawConnect(t, b, "raw", nil)
	// SUBSCRIBE id 1 "ignored" QoS 0, then PINGREQ: the first answer is
	// the PINGRESP.
	if _, err := raw.Write([]byte{0x82, 13, 0, 1, 0, 0, 7, 'i', 'g', 'n', 'o', 'r', 'e', 'd', 0, 0xC0, 0}); err != nil {
		t.Fatal(err)
	}
	ans := make([]byte, 2)
	if _, err := readFull(raw, ans); err != nil || !bytes.Equal(ans, []byte{0xD0, 0}) {
		t.Fatalf("answer %x %v, want PINGRESP alone", ans, err)
	}
}

// TestInterceptorHoldsBackPuback: a withheld PUBACK leaves the publisher
// waiting though the message was routed; a changed one reaches it.
func TestInterceptorHoldsBackPuback(t *testing.T) {
	tp := newTape()
	var mu sync.Mutex
	topics := map[uint16]string{} // the publisher's packet IDs
	tp.in = func(c embedbroker.Client, p *embedbroker.Packet) bool {
		if p.Type == embedbroker.PacketPublish && c.ID == "pub" {
			mu.Lock()
			topics[p.ID] = p.Topic
			mu.Unlock()
		}
		return true
	}
	tp.out = func(c embedbroker.Client, p *embedbroker.Packet) bool {
		if p.Type != embedbroker.PacketPuback || c.ID != "pub" {
			return true
		}
		mu.Lock()
		topic := topics[p.ID]
		mu.Unlock()
		switch topic {
		case "held":
			return false
		case "quota":
			p.ReasonCode = 0x97
		}
		return true
	}
	b := start(t, embedbroker.Config{Interceptor: tp})
	sub := dial(t, b, "sub", nil)
	sub.sub(t, "held", 1)
	pub := dial(t, b, "pub", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := pub.cli.Publish(ctx, &paho.Publish{Topic: "held", QoS: 1, Payload: []byte("m")}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("publish with its PUBACK withheld: %v", err)
	}
	if p := sub.recv(t); p.Topic != "held" {
		t.Fatalf("got %s", p.Topic)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	pr, err := pub.cli.Publish(ctx2, &paho.Publish{Topic: "quota", QoS: 1, Payload: []byte("m")})
	if pr == nil || pr.ReasonCode != 0x97 {
		t.Fatalf("PUBACK %+v %v, want reason 0x97", pr, err)
	}
}

// TestInterceptorRefusesConnect: a dropped CONNECT is refused Not
// authorized, in each version's code.
func TestInterceptorRefusesConnect(t *testing.T) {
	tp := newTape()
	tp.in = func(c embedbroker.Client, p *embedbroker.Packet) bool {
		return p.Type != embedbroker.PacketConnect || !strings.HasPrefix(c.ID, "bad")
	}
	b := start(t, embedbroker.Config{Interceptor: tp})
	nc, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	cli := paho.NewClient(paho.ClientConfig{Conn: nc})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ca, err := cli.Connect(ctx, &paho.Connect{ClientID: "bad5", CleanStart: true})
	if err == nil || ca == nil || ca.ReasonCode != 0x87 {
		t.Fatalf("CONNACK %+v %v, want 0x87", ca, err)
	}
	raw, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 30, 0, 6, 'b', 'a', 'd', '3', '1', '1'}
	if _, err := raw.Write(append([]byte{0x10, byte(len(body))}, body...)); err != nil {
		t.Fatal(err)
	}
	_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	ack := make([]byte, 4)
	if _, err := readFull(raw, ack); err != nil || !bytes.Equal(ack, []byte{0x20, 2, 0, 5}) {
		t.Fatalf("3.1.1 CONNACK %x %v, want return code 5", ack, err)
	}
	if n, err := raw.Read(ack); err == nil {
		t.Fatalf("refused connection still open (read %x)", ack[:n])
	}
	for _, id := range []string{"bad5", "bad311"} {
		log := tp.of(id)
		if len(log) != 2 || !log[1].out || log[1].p.Type != embedbroker.PacketConnack || log[1].p.ReasonCode == 0 {
			t.Errorf("%s: %+v", id, log)
		}
	}
}

func TestPacketTypeString(t *testing.T) {
	for typ, want := range map[embedbroker.PacketType]string{embedbroker.PacketConnect: "CONNECT",
		embedbroker.PacketUnsuback: "UNSUBACK", 0: "reserved", 200: "reserved"} {
		if got := typ.String(); got != want {
			t.Errorf("%d: %q, want %q", typ, got, want)
		}
	}
}

func TestInterceptorFuncs(t *testing.T) {
	var none embedbroker.InterceptorFuncs
	if !none.Inbound(embedbroker.Client{}, &embedbroker.Packet{}) || !none.Outbound(embedbroker.Client{}, &embedbroker.Packet{}) {
		t.Fatal("empty InterceptorFuncs drops packets")
	}
	f := embedbroker.InterceptorFuncs{In: func(embedbroker.Client, *embedbroker.Packet) bool { return false }}
	if f.Inbound(embedbroker.Client{}, &embedbroker.Packet{}) || !f.Outbound(embedbroker.Client{}, &embedbroker.Packet{}) {
		t.Fatal("InterceptorFuncs does not call In, or calls it for Outbound")
	}
}

// TestDisconnectAndServerKeepAlive: an interceptor's Server Keep Alive
// reaches the client in its CONNACK, and Disconnect ends a client's
// connection with a DISCONNECT carrying the reason code.
func TestDisconnectAndServerKeepAlive(t *testing.T) {
	tp := newTape()
	tp.out = func(_ embedbroker.Client, p *embedbroker.Packet) bool {
		if p.Type == embedbroker.PacketConnack && p.Props != nil {
			ska := uint16(7)
			p.Props.ServerKeepAlive = &ska
		}
		return true
	}
	b := start(t, embedbroker.Config{Interceptor: tp})
	c := dial(t, b, "kicked", nil)
	if p := c.ack.Properties; p.ServerKeepAlive == nil || *p.ServerKeepAlive != 7 {
		t.Fatalf("CONNACK Server Keep Alive %v", p.ServerKeepAlive)
	}
	if b.Disconnect("nobody", 0x8B) {
		t.Error("Disconnect of an unknown client reported true")
	}
	if !b.Disconnect("kicked", 0x8B) {
		t.Fatal("Disconnect of a connected client reported false")
	}
	select {
	case err := <-c.errs:
		if !strings.Contains(err.Error(), "0x8b") {
			t.Errorf("client saw %v, want a server DISCONNECT 0x8b", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the client saw no DISCONNECT")
	}
}
