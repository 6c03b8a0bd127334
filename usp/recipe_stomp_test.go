package usp_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gostomp "github.com/go-stomp/stomp/v3"
	"google.golang.org/protobuf/proto"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/stomp"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/usptest"
)

// rabbitHash is a RabbitMQ rabbit_password_hashing_sha256 password hash:
// base64 of a 4-byte salt and SHA-256 of the salt and the password.
func rabbitHash(password string) string {
	salt := make([]byte, 4)
	_, _ = rand.Read(salt)
	sum := sha256.Sum256(append(append([]byte(nil), salt...), password...))
	return base64.StdEncoding.EncodeToString(append(salt, sum[:]...))
}

// rabbitRecipe installs the SECURITY.md STOMP recipe on the node: agents
// confined by topic permissions to routing keys named after their login,
// and a controller user allowed everything.
func rabbitRecipe(t *testing.T, r *brokertest.RabbitMQ, controller string, agents ...string) {
	t.Helper()
	type user struct {
		Name string   `json:"name"`
		Hash string   `json:"password_hash"`
		Algo string   `json:"hashing_algorithm"`
		Tags []string `json:"tags"`
	}
	type perm struct {
		User      string `json:"user"`
		Vhost     string `json:"vhost"`
		Configure string `json:"configure"`
		Write     string `json:"write"`
		Read      string `json:"read"`
	}
	type topicPerm struct {
		User     string `json:"user"`
		Vhost    string `json:"vhost"`
		Exchange string `json:"exchange"`
		Write    string `json:"write"`
		Read     string `json:"read"`
	}
	var defs struct {
		Users  []user      `json:"users"`
		Perms  []perm      `json:"permissions"`
		Topics []topicPerm `json:"topic_permissions"`
	}
	add := func(name string) {
		defs.Users = append(defs.Users, user{name, rabbitHash("pw-" + name), "rabbit_password_hashing_sha256", []string{}})
	}
	add(controller)
	defs.Perms = append(defs.Perms, perm{controller, "/", ".*", ".*", ".*"})
	const queues = `^(amq\.topic|stomp-subscription-.*)$`
	for _, a := range agents {
		add(a)
		defs.Perms = append(defs.Perms, perm{a, "/", `^stomp-subscription-.*$`, queues, queues})
		defs.Topics = append(defs.Topics, topicPerm{a, "/", "amq.topic", `^usp\.controller\.{username}$`, `^usp\.agent\.{username}$`})
	}
	b, err := json.Marshal(defs)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "defs.json")
	writeTestFile(t, file, string(b))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := r.Ctl(ctx, "import_definitions", file); err != nil {
		t.Fatal(err)
	}
}

// TestBrokerRecipeRabbitMQ runs the hostile agent's attacks against the
// shared RabbitMQ node confined by the STOMP recipe: the victim is
// unaffected by every one.
func TestBrokerRecipeRabbitMQ(t *testing.T) {
	victimReceived := func() []usptest.Received { return nil }
	r := brokertest.SharedRabbitMQ(t)
	ctrlUser := "usp-controller-recipe"
	rabbitRecipe(t, r, ctrlUser, victimID, attackerID)
	agentDest := func(id string) string { return "/topic/usp.agent." + id }
	ctrlDestOf := func(id string) string { return "/topic/usp.controller." + id }
	verify := func(_ context.Context, from string, in mtp.Inbound) error {
		if in.ReceivedOn.To != ctrlDestOf(from) {
			return fmt.Errorf("%s sent to %s", from, in.ReceivedOn.To)
		}
		if !in.ReplyTo.IsZero() && in.ReplyTo.To != agentDest(from) {
			return fmt.Errorf("%s asks for answers on %s", from, in.ReplyTo.To)
		}
		return nil
	}
	ct, err := stomp.New(r.StompAddr(), ctrlID, stomp.WithHost("/"), stomp.WithCredentials(ctrlUser, "pw-"+ctrlUser),
		stomp.WithDestination("/topic/usp.controller.#"),
		stomp.WithReplyToDestFor(func(to string) string {
			if id, ok := strings.CutPrefix(to, "/topic/usp.agent."); ok {
				return ctrlDestOf(id)
			}
			return ""
		}))
	if err != nil {
		t.Fatal(err)
	}
	logs := &logCounter{n: make(map[string]int)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("controller log messages: %v; victim received %d messages", logs.n, len(victimReceived()))
		}
	})
	c, err := usp.NewController(ctrlID, usp.WithTransport(ct), usp.WithPeerVerifier(verify), usp.WithLogger(slog.New(logs)))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	at, err := stomp.New(r.StompAddr(), victimID, stomp.WithHost("/"), stomp.WithCredentials(victimID, "pw-"+victimID), stomp.WithDestination(agentDest(victimID)))
	if err != nil {
		t.Fatal(err)
	}
	victim, err := usptest.NewAgent(victimID, usptest.WithTransport(at),
		usptest.WithController(ctrlID, mtp.Address{MTP: mtp.STOMP, To: ctrlDestOf(victimID)}), usptest.WithoutBootSubscription())
	if err != nil {
		t.Fatal(err)
	}
	if err := victim.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = victim.Close(context.Background()) })
	victimReceived = victim.Received
	// A /topic/ message is dropped while no queue is bound to its routing
	// key, and the controller's SUBSCRIBE takes effect a moment after it
	// is sent: the victim announces itself until the controller hears it.
	last := time.Now()
	waitLong(t, func() bool {
		if info, ok := c.AgentInfo(victimID); ok && info.Connected {
			return true
		}
		if time.Since(last) > 500*time.Millisecond {
			last = time.Now()
			_ = victim.SendConnect(ctxT(t))
		}
		return false
	})
	truth, err := c.Agent(victimID).GetValue(ctxT(t), truePath)
	if err != nil {
		t.Fatal(err)
	}

	notify, _ := proto.Marshal(msg.Notify{SubscriptionID: "x", SendResp: true, Notification: &msg.Event{ObjPath: "Device.", EventName: "Boot!"}}.Build("n-1"))
	// send sends a record as the attacker (logged in as itself); a send
	// the permissions refuse makes RabbitMQ close the connection, so each
	// attack gets a connection of its own.
	send := func(dest, replyTo string, rec *usprecord.Record) {
		t.Helper()
		conn, err := gostomp.Dial("tcp", r.StompAddr(), gostomp.ConnOpt.Login(attackerID, "pw-"+attackerID), gostomp.ConnOpt.Host("/"), gostomp.ConnOpt.Logger(quietStomp{}))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.MustDisconnect() }()
		b, _ := record.Encode(rec)
		_ = conn.Send(dest, stomp.ContentType, b, gostomp.SendOpt.Header(stomp.HeaderReplyToDest, replyTo), gostomp.SendOpt.Receipt)
	}
	// 1. As the victim on the victim's destination: refused by RabbitMQ.
	send(ctrlDestOf(victimID), agentDest(victimID), record.NewNoSessionContext("1.3", ctrlID, victimID, notify))
	// 2-4. On its own destination, claiming the victim: the verifier refuses.
	send(ctrlDestOf(attackerID), agentDest(attackerID), record.NewSTOMPConnect("1.3", ctrlID, victimID, agentDest(attackerID)))
	send(ctrlDestOf(attackerID), agentDest(victimID), record.NewNoSessionContext("1.3", ctrlID, victimID, notify))
	send(ctrlDestOf(attackerID), agentDest(victimID), record.NewDisconnect("1.3", ctrlID, victimID, "bye", 7105))
	waitLong(t, func() bool { return logs.count(logRefused) >= 3 })
	// 5. Eavesdropping on the victim's destination is refused.
	spy, err := gostomp.Dial("tcp", r.StompAddr(), gostomp.ConnOpt.Login(attackerID, "pw-"+attackerID), gostomp.ConnOpt.Host("/"), gostomp.ConnOpt.Logger(quietStomp{}))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = spy.MustDisconnect() }()
	sub, serr := spy.Subscribe(agentDest(victimID), gostomp.AckAuto)

	info, _ := c.AgentInfo(victimID)
	if info.Address.To != agentDest(victimID) || !info.Connected {
		t.Fatalf("victim's entry changed: %+v", info)
	}
	if got, err := c.Agent(victimID).GetValue(ctxT(t), truePath); err != nil || got != truth {
		t.Fatalf("victim's value %q, %v; want %q", got, err, truth)
	}
	if serr == nil {
		select {
		case m, ok := <-sub.C:
			if ok && m.Err == nil {
				t.Errorf("the attacker read the victim's traffic on %s", m.Destination)
			}
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// quietStomp keeps go-stomp's logging of the refusals out of test output.
type quietStomp struct{}

func (quietStomp) Debugf(string, ...any)   {}
func (quietStomp) Infof(string, ...any)    {}
func (quietStomp) Warningf(string, ...any) {}
func (quietStomp) Errorf(string, ...any)   {}
func (quietStomp) Debug(string)            {}
func (quietStomp) Info(string)             {}
func (quietStomp) Warning(string)          {}
func (quietStomp) Error(string)            {}

// waitLong is waitUntil for brokers that are slow under load.
func waitLong(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
