package pgstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/mqtt"
	"github.com/gousp/gousp/mtp/stomp"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/store/pgstore"
	"github.com/gousp/gousp/usp/usptest"
)

// The fleet test runs controller processes as real OS processes: this test
// binary again, with fleetEnv naming the process. They take commands on
// stdin and report on stdout, one line each. Their transport comes from
// the environment: fleetMTP ("mqtt" or "stomp"), fleetBroker (the broker's
// URL or host:port), fleetDest (the topic or queue the processes share)
// and fleetReply (prefix of each process's own topic or destination).
const (
	fleetEnv    = "GOUSP_FLEET_PROCESS"
	fleetMTP    = "GOUSP_FLEET_MTP"
	fleetBroker = "GOUSP_FLEET_BROKER"
	fleetDest   = "GOUSP_FLEET_DEST"
	fleetReply  = "GOUSP_FLEET_REPLY"
	fleetCtrl   = "proto::fleet-controller"
	fleetTopic  = "usp/fleet"
)

// fleetTransport makes a controller process's transport and the address
// function of its cluster from the environment.
func fleetTransport(name string) (mtp.Transport, func(string) mtp.Address, error) {
	dest, reply := os.Getenv(fleetDest), os.Getenv(fleetReply)
	switch os.Getenv(fleetMTP) {
	case "mqtt":
		// mqtt.WithSharedSubscription's reply topic is <topic>/reply/<client ID>.
		addr := func(p string) mtp.Address { return mtp.Address{MTP: mtp.MQTT, To: dest + "/reply/" + p} }
		tr, err := mqtt.New(os.Getenv(fleetBroker), fleetCtrl, mqtt.WithTopic(dest),
			mqtt.WithSharedSubscription("fleet"), mqtt.WithClientID(name), mqtt.WithQoS(1))
		return tr, addr, err
	case "stomp":
		addr := func(p string) mtp.Address { return mtp.Address{MTP: mtp.STOMP, To: reply + p} }
		tr, err := stomp.New(os.Getenv(fleetBroker), fleetCtrl, stomp.WithCredentials("guest", "guest"), stomp.WithHost("/"),
			stomp.WithDestination(dest), stomp.WithReplyDestination(addr(name).To))
		return tr, addr, err
	}
	return nil, nil, fmt.Errorf("%s=%q", fleetMTP, os.Getenv(fleetMTP))
}

// forwardCounter is the processes' log handler: it counts the
// notifications forwarded to their owner.
type forwardCounter struct{ n atomic.Int64 }

func (f *forwardCounter) Enabled(context.Context, slog.Level) bool { return true }
func (f *forwardCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "notification forwarded to its owner" {
		f.n.Add(1)
	}
	return nil
}
func (f *forwardCounter) WithAttrs([]slog.Attr) slog.Handler { return f }
func (f *forwardCounter) WithGroup(string) slog.Handler      { return f }

// fleetProcess is the main of one controller process.
func fleetProcess() int {
	name := os.Getenv(fleetEnv)
	agents := strings.Split(os.Getenv("GOUSP_FLEET_AGENTS"), ",")
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		fmt.Printf(format+"\n", args...)
		outMu.Unlock()
	}
	ctx := context.Background()
	st, err := pgstore.Open(ctx, os.Getenv("GOUSP_FLEET_PG"))
	if err != nil {
		say("error store: %v", err)
		return 1
	}
	tr, address, err := fleetTransport(name)
	if err != nil {
		say("error transport: %v", err)
		return 1
	}
	fwd := &forwardCounter{}
	c, err := usp.NewController(fleetCtrl, usp.WithTransport(tr), usp.WithStore(st), usp.WithLogger(slog.New(fwd)),
		usp.WithNotifyHandler(func(_ context.Context, n *usp.Notification) error {
			key := "-"
			if oc, ok := n.Body.(*msg.OperationComplete); ok {
				key = oc.CommandKey
			}
			say("notify %s %s %s %t %T %s", n.AgentID, n.MsgID, n.SubscriptionID, n.Duplicate, n.Body, key)
			return nil
		}),
		usp.WithCluster(usp.Cluster{Process: name, Address: address, ForwardTimeout: 2 * time.Second, DeadFor: time.Minute,
			Secret: []byte("fleet secret"), ClaimAll: os.Getenv("GOUSP_FLEET_CLAIMALL") == "1"}))
	if err != nil {
		say("error controller: %v", err)
		return 1
	}
	if err := c.Start(ctx); err != nil {
		say("error start: %v", err)
		return 1
	}
	// each runs f on every agent, eight at a time, and counts failures.
	each := func(f func(ctx context.Context, id string) error) (ok, failed int, last error) {
		var mu sync.Mutex
		sem := make(chan struct{}, 8)
		var wg sync.WaitGroup
		for _, id := range agents {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				err := f(ctx, id)
				mu.Lock()
				if err != nil {
					failed, last = failed+1, err
				} else {
					ok++
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		return ok, failed, last
	}
	say("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch cmd := in.Text(); cmd {
		case "call":
			// Agents this process never heard from are found in the store.
			ok, failed, last := each(func(ctx context.Context, id string) error {
				for {
					_, err := c.Agent(id).GetValue(ctx, "Device.DeviceInfo.SerialNumber")
					if !errors.Is(err, usp.ErrUnknownAgent) || ctx.Err() != nil {
						return err
					}
					time.Sleep(100 * time.Millisecond)
				}
			})
			say("call %d %d %v", ok, failed, last)
		case "ops":
			before := fwd.n.Load()
			ok, failed, last := each(func(ctx context.Context, id string) error {
				_, err := c.Agent(id).Call(ctx, "Device.ScheduleTimer()", map[string]string{"DelaySeconds": "0"})
				return err
			})
			say("ops %d %d %d %v", ok, failed, fwd.n.Load()-before, last)
		case "startops":
			// Operations that are still running when the test kills us.
			ok, failed, last := each(func(ctx context.Context, id string) error {
				_, err := c.Agent(id).StartOperation(ctx, "Device.ScheduleTimer()", map[string]string{"DelaySeconds": "2"})
				return err
			})
			say("started %d %d %v", ok, failed, last)
		case "subscribe":
			ok, failed, last := each(func(ctx context.Context, id string) error {
				_, err := c.Agent(id).Subscribe(ctx, usp.SubscriptionSpec{NotifType: usp.NotifEvent,
					ReferenceList: []string{"Device.Boot!"}, NotifRetry: true,
					Handler: func(context.Context, *usp.Notification) error { return nil }})
				return err
			})
			say("subscribe %d %d %v", ok, failed, last)
		case "pending":
			say("pending %d", len(c.PendingOperations()))
		case "quit":
			err := c.Close(ctx)
			st.Close()
			say("bye %v", err)
			return 0
		default:
			say("error unknown command %q", cmd)
		}
	}
	return 0
}

// proc is one controller process as the test sees it.
type proc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // everything but notify lines
}

func (p *proc) do(t *testing.T, cmd, want string) []string {
	t.Helper()
	if _, err := io.WriteString(p.stdin, cmd+"\n"); err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	return p.expect(t, want)
}

func (p *proc) expect(t *testing.T, want string) []string {
	t.Helper()
	timeout := time.After(60 * time.Second)
	if want == "bye" {
		timeout = time.After(15 * time.Second)
	}
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("%s exited while waiting for %q", p.name, want)
			}
			f := strings.Fields(l)
			if len(f) > 0 && f[0] == want {
				return f
			}
			if len(f) > 0 && f[0] == "error" {
				t.Fatalf("%s: %s", p.name, l)
			}
		case <-timeout:
			_ = p.cmd.Process.Signal(syscall.SIGQUIT)
			time.Sleep(2 * time.Second)
			t.Fatalf("%s: no %q in 60s", p.name, want)
		}
	}
}

// delivery is one notification as a process's handler reported it.
type delivery struct {
	process, agent, msgID, subID string
	dup                          bool
	kind                         string // the body's Go type
	key                          string // an OperationComplete's command key
}

// fleetSetup is one broker deployment for runFleet.
type fleetSetup struct {
	agents int
	// claimAll runs the processes with usp.Cluster.ClaimAll: every copy
	// after the first is flagged Duplicate, even around the kill.
	claimAll bool
	// env gives process p its transport (fleetMTP, fleetBroker, ...).
	env func(p string) []string
	// agent makes agent i's transport and the controller's shared address.
	agent func(i int, id string) (mtp.Transport, mtp.Address)
}

// TestFleetProcesses: three controller processes share one endpoint ID
// over mosquitto (MQTT 5 shared subscription) and one PostgreSQL store.
// Every process reaches every agent; operations complete on the process
// that started them wherever their completion lands; and a subscription's
// notifications reach the fleet's handlers, none lost, across a kill -9 of
// the process that owns the subscription.
func TestFleetProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL, mosquitto and three processes")
	}
	url := brokertest.StartMosquitto(t)
	runFleet(t, fleetSetup{
		agents: 100,
		env: func(string) []string {
			return []string{fleetMTP + "=mqtt", fleetBroker + "=" + url, fleetDest + "=" + fleetTopic}
		},
		agent: func(_ int, id string) (mtp.Transport, mtp.Address) {
			tr, err := mqtt.New(url, id, mqtt.WithTopic("usp/fleet-agent/"+id), mqtt.WithQoS(1))
			if err != nil {
				t.Fatal(err)
			}
			return tr, mtp.Address{MTP: mtp.MQTT, To: fleetTopic}
		},
	})
}

// TestFleetRabbitMQCluster is TestFleetProcesses over STOMP on a
// three-node RabbitMQ cluster, with usp.Cluster.ClaimAll: process i and every third agent connect to
// node i, so that calls, responses, forwards and the shared queue's
// deliveries cross nodes. The processes are competing consumers on one
// queue; each receives its answers on a /topic/ destination of its own,
// which RabbitMQ backs with a queue that goes away with its subscriber (a
// /queue/ would keep collecting forwards for a dead process and hand them
// over, stale, when it comes back).
func TestFleetRabbitMQCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL, a three-node RabbitMQ cluster and three processes")
	}
	cl := brokertest.NewRabbitMQCluster(t, 3)
	nodes := cl.StompAddrs()
	const shared = "/queue/usp-fleet"
	runFleet(t, fleetSetup{
		agents:   100,
		claimAll: true,
		env: func(p string) []string {
			n, _ := strconv.Atoi(strings.TrimPrefix(p, "p"))
			return []string{fleetMTP + "=stomp", fleetBroker + "=" + nodes[(n-1)%len(nodes)], fleetDest + "=" + shared,
				fleetReply + "=/topic/usp-fleet."}
		},
		agent: func(i int, id string) (mtp.Transport, mtp.Address) {
			tr, err := stomp.New(nodes[i%len(nodes)], id, stomp.WithCredentials("guest", "guest"), stomp.WithHost("/"),
				stomp.WithDestination("/queue/usp-fleet-agent."+strings.ReplaceAll(id, ":", "")))
			if err != nil {
				t.Fatal(err)
			}
			return tr, mtp.Address{MTP: mtp.STOMP, To: shared}
		},
	})
}

func runFleet(t *testing.T, setup fleetSetup) {
	conn := startPostgres(t)
	nAgents := setup.agents
	var agents []*usptest.Agent
	var ids []string
	for i := range nAgents {
		id := fmt.Sprintf("os::012345-FLEET%04d", i)
		tr, ctrl := setup.agent(i, id)
		a, err := usptest.NewAgent(id, usptest.WithTransport(tr), usptest.WithoutBootSubscription(),
			usptest.WithNotificationsToController(), usptest.WithController(fleetCtrl, ctrl),
			usptest.WithNotifyRetry(200*time.Millisecond, time.Second))
		if err != nil {
			t.Fatal(err)
		}
		agents, ids = append(agents, a), append(ids, id)
	}

	var mu sync.Mutex
	var got []delivery
	procs := map[string]*proc{}
	spawn := func(name string) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), fleetEnv+"="+name, "GOUSP_FLEET_PG="+conn, "GOUSP_FLEET_AGENTS="+strings.Join(ids, ","))
		cmd.Env = append(cmd.Env, setup.env(name)...)
		if setup.claimAll {
			cmd.Env = append(cmd.Env, "GOUSP_FLEET_CLAIMALL=1")
		}
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p := &proc{name: name, cmd: cmd, stdin: stdin, lines: make(chan string, 64)}
		procs[name] = p
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer close(p.lines)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) == 7 && f[0] == "notify" {
					mu.Lock()
					got = append(got, delivery{process: name, agent: f[1], msgID: f[2], subID: f[3], dup: f[4] == "true", kind: f[5], key: f[6]})
					mu.Unlock()
					continue
				}
				p.lines <- sc.Text()
			}
		}()
		t.Cleanup(func() {
			_ = stdin.Close()
			wait := make(chan struct{})
			go func() { _ = cmd.Wait(); close(wait) }()
			select {
			case <-wait:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-wait
			}
			<-done
		})
	}
	for _, name := range []string{"p1", "p2", "p3"} {
		spawn(name)
	}
	for _, p := range procs {
		p.expect(t, "ready")
	}
	// The agents come up now: each MQTTConnect reaches one process.
	for _, a := range agents {
		if err := a.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Close(context.Background()) })
	}

	for _, p := range procs {
		if f := p.do(t, "call", "call"); f[1] != strconv.Itoa(nAgents) {
			t.Fatalf("%s reached %s of %d agents: %v", p.name, f[1], nAgents, f[3:])
		}
	}
	forwarded := 0
	// All three at once, so that the broker's round robin over the
	// processes does not fall in step with one process's traffic.
	for _, p := range procs {
		if _, err := io.WriteString(p.stdin, "ops\n"); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range procs {
		f := p.expect(t, "ops")
		if f[1] != strconv.Itoa(nAgents) {
			t.Fatalf("%s: %s of %d operations completed: %v", p.name, f[1], nAgents, f[4:])
		}
		n, _ := strconv.Atoi(f[3])
		forwarded += n
	}
	if forwarded == 0 {
		t.Error("no completion was forwarded to its owner: every one landed where it was started, nothing was tested")
	}
	mu.Lock()
	byOwner, elsewhere := 0, 0
	for _, d := range got {
		if d.kind == "*msg.OperationComplete" {
			if strings.HasPrefix(d.subID, "gousp@"+d.process+":") {
				byOwner++
			} else {
				elsewhere++
			}
		}
	}
	mu.Unlock()
	if elsewhere > 0 {
		t.Errorf("%d operation completions were handled by a process that did not start the operation", elsewhere)
	}
	t.Logf("%d operations; %d completion notifications (retransmissions included) forwarded to the process that started the operation, %d deliveries, all by the owner", 3*nAgents, forwarded, byOwner)

	// p3 subscribes to every agent; the agents emit Boot! events, and p3
	// is killed halfway.
	if f := procs["p3"].do(t, "subscribe", "subscribe"); f[1] != strconv.Itoa(nAgents) {
		t.Fatalf("p3 subscribed to %s of %d agents: %v", f[1], nAgents, f[3:])
	}
	if f := procs["p3"].do(t, "startops", "started"); f[1] != strconv.Itoa(nAgents) {
		t.Fatalf("p3 started %s of %d operations: %v", f[1], nAgents, f[3:])
	}
	const rounds = 6
	emit := func() {
		for _, a := range agents {
			if err := a.Emit(t.Context(), "Device.Boot!", map[string]string{"Cause": "LocalReboot"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range rounds / 2 {
		emit()
	}
	mu.Lock()
	beforeKill := len(got)
	mu.Unlock()
	if err := procs["p3"].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for range rounds / 2 {
		emit()
	}
	// Calls on the survivors are unaffected.
	for _, name := range []string{"p1", "p2"} {
		if f := procs[name].do(t, "call", "call"); f[1] != strconv.Itoa(nAgents) {
			t.Fatalf("after the kill %s reached %s of %d agents: %v", name, f[1], nAgents, f[3:])
		}
	}
	// p3's operations: the one of the ops phase and the one it left
	// running, each completion delivered to some process's handlers.
	p3done := func() map[string]map[string]bool {
		mu.Lock()
		defer mu.Unlock()
		completions := map[string]map[string]bool{}
		for _, d := range got {
			if strings.HasPrefix(d.key, "gousp@p3:") {
				if completions[d.agent] == nil {
					completions[d.agent] = map[string]bool{}
				}
				completions[d.agent][d.key] = true
			}
		}
		return completions
	}
	deadline := time.Now().Add(45 * time.Second)
	for {
		completions, missing := p3done(), 0
		for _, id := range ids {
			if len(completions[id]) != 2 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d agents lack a completion of p3's 2 operations: %v", missing, completions)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Every notification is answered (the agents stop retrying) ...
	for _, a := range agents {
		for len(a.PendingNotifications()) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s still retries %d notifications", a.EndpointID(), len(a.PendingNotifications()))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// ... and reached the fleet's handlers: each msg_id of p3's
	// subscriptions at least once, every agent's events all there.
	mu.Lock()
	deliveries := slices.Clone(got)
	mu.Unlock()
	// While every process lives, each notification with an owner reaches
	// the owner's duplicate window wherever it lands: a msg_id the
	// fleet's handlers see again is flagged Duplicate every time.
	seen := map[string]bool{}
	for _, d := range deliveries[:beforeKill] {
		k := d.agent + " " + d.msgID
		if seen[k] && !d.dup {
			t.Errorf("%s %s (%s) delivered again by %s before the kill, not flagged Duplicate", d.agent, d.msgID, d.kind, d.process)
		}
		seen[k] = true
	}
	perAgent := map[string]map[string]int{}
	byProcess := map[string]int{}
	repeats, flagged := 0, 0
	// After the kill, p3's notifications go to the others' handlers; the
	// store's claims (usp.OrphanClaims) flag every repeat there but one:
	// the copy p3 handled as it died, which nobody else knew of. With
	// ClaimAll, p3 claimed that one too: one unflagged copy in all.
	unflagged := map[string]int{}
	for _, d := range deliveries {
		if !strings.HasPrefix(d.subID, "gousp@p3:") || d.kind != "*msg.Event" {
			continue
		}
		if perAgent[d.agent] == nil {
			perAgent[d.agent] = map[string]int{}
		}
		perAgent[d.agent][d.msgID]++
		if perAgent[d.agent][d.msgID] == 1 {
			byProcess[d.process]++
		} else {
			repeats++
			if d.dup {
				flagged++
			}
		}
		if !d.dup && (d.process != "p3" || setup.claimAll) {
			k := d.agent + " " + d.msgID
			if unflagged[k]++; unflagged[k] > 1 {
				t.Errorf("%s handed to the fleet's handlers %d times unflagged (claim all %v)", k, unflagged[k], setup.claimAll)
			}
		}
	}
	for _, id := range ids {
		if n := len(perAgent[id]); n != rounds {
			t.Errorf("%s: %d of %d events reached the fleet's handlers", id, n, rounds)
		}
	}
	if byProcess["p1"]+byProcess["p2"] == 0 {
		t.Error("after p3 died, no notification of its subscriptions went to the other processes' handlers")
	}
	t.Logf("first deliveries by process %v; %d repeated deliveries, %d of them flagged Duplicate", byProcess, repeats, flagged)
	// p3 restarted under its name finds no operation of its previous run
	// left waiting: those that completed while it was gone were removed
	// from the store by the process that handled their completion.
	spawn("p3")
	procs["p3"].expect(t, "ready")
	if f := procs["p3"].do(t, "pending", "pending"); f[1] != "0" {
		t.Errorf("restarted p3 waits for %s operations that completed while it was dead", f[1])
	}
	for _, name := range []string{"p1", "p2", "p3"} {
		procs[name].do(t, "quit", "bye")
	}
}
