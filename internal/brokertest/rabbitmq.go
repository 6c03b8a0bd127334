package brokertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// RabbitMQConfig configures a private RabbitMQ node.
type RabbitMQConfig struct {
	// TLS adds a STOMP-over-TLS listener; with TLS.ClientCAs it requires
	// client certificates.
	TLS *TLS
}

// RabbitMQ is a RabbitMQ node with the rabbitmq_stomp plugin, listening on
// loopback only. Its methods may be called from any goroutine.
type RabbitMQ struct {
	bin, epmdBin string
	dir          string
	env          []string
	stompPort    int
	tlsPort      int
	epmdPort     int

	name       string // Erlang node name, e.g. gousp1a2b3c4d@localhost
	sharedEpmd bool   // the epmd belongs to a [RabbitMQCluster]

	mu   sync.Mutex
	epmd *process
	proc *process
}

// rabbitNode is what a node of a cluster shares with the others; the zero
// value makes a standalone node.
type rabbitNode struct {
	name     string // node name without @localhost; random when empty
	epmdPort int    // an epmd the caller runs; 0: the node starts its own
	cookie   string // Erlang cookie; "" lets Erlang make one
}

var shared struct {
	once sync.Once
	mu   sync.Mutex
	r    *RabbitMQ
	err  error
	skip string
}

// StartRabbitMQ returns the STOMP address (127.0.0.1:port) of the RabbitMQ
// node shared by every test of this test binary, starting it on first use
// (it takes several seconds to boot). Call [Shutdown] from TestMain, or use
// [Main], to stop it when the tests end; should the test binary die first,
// the node stops by itself. Without rabbitmq-server the test is skipped
// (or fails when [RequireEnv] is set).
func StartRabbitMQ(t testing.TB) string {
	t.Helper()
	return SharedRabbitMQ(t).StompAddr()
}

// SharedRabbitMQ is [StartRabbitMQ] returning the node's handle. Tests
// that stop or restart it should use [NewRabbitMQ] instead.
func SharedRabbitMQ(t testing.TB) *RabbitMQ {
	t.Helper()
	shared.once.Do(func() {
		bin, epmd, msg := rabbitBinaries()
		if msg != "" {
			shared.skip = msg
			return
		}
		r, err := bootRabbitMQ(func() (*RabbitMQ, error) {
			dir, err := os.MkdirTemp("", "gousp-rabbitmq-")
			if err != nil {
				return nil, err
			}
			return newRabbitMQ(bin, epmd, dir, RabbitMQConfig{}, rabbitNode{}, nil)
		})
		shared.mu.Lock()
		shared.r, shared.err = r, err
		shared.mu.Unlock()
	})
	if shared.skip != "" {
		missing(t, shared.skip)
	}
	if shared.err != nil {
		t.Fatalf("brokertest: shared RabbitMQ: %v", shared.err)
	}
	return shared.r
}

// Shutdown stops the shared RabbitMQ node, if one was started, and removes
// its files. Tests must not use it afterwards.
func Shutdown() {
	shared.mu.Lock()
	r := shared.r
	shared.r = nil
	shared.mu.Unlock()
	if r != nil {
		r.Close()
		_ = os.RemoveAll(r.dir)
	}
}

// NewRabbitMQ starts a private RabbitMQ node for one test (stopped when the
// test ends): for TLS listeners, or for tests that stop and restart it.
func NewRabbitMQ(t testing.TB, cfg RabbitMQConfig) *RabbitMQ {
	t.Helper()
	bin, epmd, msg := rabbitBinaries()
	if msg != "" {
		missing(t, msg)
	}
	r, err := bootRabbitMQ(func() (*RabbitMQ, error) {
		return newRabbitMQ(bin, epmd, t.TempDir(), cfg, rabbitNode{}, t)
	})
	if r != nil {
		t.Cleanup(func() {
			r.Close()
			if t.Failed() {
				t.Logf("RabbitMQ log (tail):\n%s", r.Log())
			}
		})
	}
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	return r
}

// bootRabbitMQ makes a node with mk and starts it, and when the start
// fails makes a fresh one (new directory, new ports) and tries once more.
// Two test binaries booting nodes at the same moment once crashed one of
// them (an Erlang crash dump, no other cause found), and a free port
// chosen by one process can be taken by another before the node binds it:
// both are passing accidents, and one failed boot must not fail a CI run.
// On failure the last node is returned (stopped) with the errors of both
// attempts, so that its log can still be read.
func bootRabbitMQ(mk func() (*RabbitMQ, error)) (*RabbitMQ, error) {
	var errs []error
	var r *RabbitMQ
	for attempt := range 2 {
		var err error
		r, err = mk()
		if err == nil {
			if err = r.Start(); err == nil {
				return r, nil
			}
			r.Close()
		}
		errs = append(errs, fmt.Errorf("attempt %d: %w", attempt+1, err))
	}
	return r, errors.Join(errs...)
}

func rabbitBinaries() (bin, epmd, missingMsg string) {
	// The Debian /usr/sbin wrapper switches to the rabbitmq user, who
	// cannot read a test's temp directory; run the real script directly.
	bin, ok := lookBinary("/usr/lib/rabbitmq/bin/rabbitmq-server", "rabbitmq-server", "/usr/sbin/rabbitmq-server")
	if !ok {
		return "", "", "rabbitmq-server not installed: apt-get install rabbitmq-server"
	}
	epmd, ok = lookBinary("epmd", "/usr/bin/epmd")
	if !ok {
		if m, _ := filepath.Glob("/usr/lib/erlang/erts-*/bin/epmd"); len(m) > 0 {
			epmd, ok = m[len(m)-1], true
		}
	}
	if !ok {
		return "", "", "epmd (Erlang) not installed: apt-get install rabbitmq-server"
	}
	return bin, epmd, ""
}

func newRabbitMQ(bin, epmd, dir string, cfg RabbitMQConfig, node rabbitNode, t testing.TB) (*RabbitMQ, error) {
	ports := make([]int, 5)
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	r := &RabbitMQ{bin: bin, epmdBin: epmd, dir: dir, stompPort: ports[0], epmdPort: ports[3]}
	if node.epmdPort != 0 {
		r.epmdPort, r.sharedEpmd = node.epmdPort, true
	}
	if node.name == "" {
		var id [4]byte
		_, _ = rand.Read(id[:])
		node.name = "gousp" + hex.EncodeToString(id[:])
	}
	r.name = node.name + "@localhost"
	if node.cookie != "" {
		// Nodes of one cluster must share the cookie; Erlang insists
		// that nobody else may read it.
		if err := os.WriteFile(filepath.Join(dir, ".erlang.cookie"), []byte(node.cookie), 0o400); err != nil {
			return nil, err
		}
	}
	var conf strings.Builder
	// No AMQP listener: the tests only speak STOMP.
	fmt.Fprintf(&conf, "listeners.tcp = none\nloopback_users = none\n")
	fmt.Fprintf(&conf, "stomp.listeners.tcp.1 = %s\n", hostPort(r.stompPort))
	fmt.Fprintf(&conf, "log.file.level = info\nlog.console = false\n")
	if cfg.TLS != nil {
		if t == nil {
			return nil, errors.New("TLS needs a test to write certificates")
		}
		r.tlsPort = ports[4]
		certFile, keyFile, caFile := cfg.TLS.pemFiles(t, dir)
		fmt.Fprintf(&conf, "stomp.listeners.ssl.1 = %s\n", hostPort(r.tlsPort))
		fmt.Fprintf(&conf, "ssl_options.certfile = %s\nssl_options.keyfile = %s\n", certFile, keyFile)
		if caFile != "" {
			fmt.Fprintf(&conf, "ssl_options.cacertfile = %s\n", caFile)
		}
		fmt.Fprintf(&conf, "ssl_options.versions.1 = tlsv1.3\nssl_options.versions.2 = tlsv1.2\n")
		if len(cfg.TLS.ClientCAs) > 0 {
			fmt.Fprintf(&conf, "ssl_options.verify = verify_peer\nssl_options.fail_if_no_peer_cert = true\n")
		} else {
			fmt.Fprintf(&conf, "ssl_options.verify = verify_none\nssl_options.fail_if_no_peer_cert = false\n")
		}
	}
	files := map[string]string{
		"rabbitmq.conf":   conf.String(),
		"enabled_plugins": "[rabbitmq_stomp].\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			return nil, err
		}
	}
	r.env = []string{
		"HOME=" + dir, // the Erlang cookie lives here
		"RABBITMQ_NODENAME=" + r.name,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		fmt.Sprintf("RABBITMQ_NODE_PORT=%d", ports[1]),
		fmt.Sprintf("RABBITMQ_DIST_PORT=%d", ports[2]),
		fmt.Sprintf("ERL_EPMD_PORT=%d", r.epmdPort),
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
		"RABBITMQ_MNESIA_BASE=" + filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE=" + filepath.Join(dir, "log"),
		"RABBITMQ_ENABLED_PLUGINS_FILE=" + filepath.Join(dir, "enabled_plugins"),
		"RABBITMQ_CONFIG_FILE=" + filepath.Join(dir, "rabbitmq.conf"),
		"RABBITMQ_CONF_ENV_FILE=" + filepath.Join(dir, "rabbitmq-env.conf"),
		"RABBITMQ_ADVANCED_CONFIG_FILE=" + filepath.Join(dir, "advanced.config"),
		"RABBITMQ_PID_FILE=" + filepath.Join(dir, "rabbitmq.pid"),
		"RABBITMQ_FEATURE_FLAGS_FILE=" + filepath.Join(dir, "feature_flags"),
		"RABBITMQ_PLUGINS_EXPAND_DIR=" + filepath.Join(dir, "plugins-expand"),
		"RABBITMQ_QUORUM_DIR=" + filepath.Join(dir, "quorum"),
		"RABBITMQ_STREAM_DIR=" + filepath.Join(dir, "stream"),
	}
	return r, nil
}

// Ctl runs rabbitmqctl against the node with args (e.g. "add_user", name,
// password) and returns its output.
func (r *RabbitMQ) Ctl(ctx context.Context, args ...string) (string, error) {
	bin, ok := lookBinary("/usr/lib/rabbitmq/bin/rabbitmqctl", "rabbitmqctl", "/usr/sbin/rabbitmqctl")
	if !ok {
		return "", errors.New("rabbitmqctl not found")
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), r.env...)
	cmd.Dir = r.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("rabbitmqctl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Name is the node's Erlang node name (name@localhost).
func (r *RabbitMQ) Name() string { return r.name }

// StompAddr is the plain STOMP listener's host:port.
func (r *RabbitMQ) StompAddr() string { return hostPort(r.stompPort) }

// StompTLSAddr is the STOMP-over-TLS listener's host:port, or "" when the
// node has none.
func (r *RabbitMQ) StompTLSAddr() string {
	if r.tlsPort == 0 {
		return ""
	}
	return hostPort(r.tlsPort)
}

// Log returns the end of the node's log files and console output.
func (r *RabbitMQ) Log() string {
	var b strings.Builder
	logs, _ := filepath.Glob(filepath.Join(r.dir, "log", "*.log"))
	for _, l := range logs {
		fmt.Fprintf(&b, "== %s\n%s\n", filepath.Base(l), tailFile(l, 4000))
	}
	r.mu.Lock()
	if r.proc != nil {
		fmt.Fprintf(&b, "== console\n%s\n", r.proc.out.String())
	}
	r.mu.Unlock()
	return b.String()
}

// Start boots the node (again) and waits until its STOMP listeners accept
// connections. Starting a running node does nothing.
func (r *RabbitMQ) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		return nil
	}
	if r.epmd == nil && !r.sharedEpmd {
		// Our own epmd, as a child we can stop: one started by Erlang
		// would daemonize and outlive the tests.
		p, err := startProcess("epmd", nil, r.dir, r.epmdBin, "-port", fmt.Sprint(r.epmdPort), "-address", "127.0.0.1")
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = waitPort(ctx, "epmd", hostPort(r.epmdPort), p)
		cancel()
		if err != nil {
			p.stop(time.Second)
			return err
		}
		r.epmd = p
	}
	p, err := startProcess("rabbitmq-server", r.env, r.dir, r.bin)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	addrs := []string{r.StompAddr()}
	if r.tlsPort != 0 {
		addrs = append(addrs, r.StompTLSAddr())
	}
	for _, a := range addrs {
		if err := waitPort(ctx, "rabbitmq-server", a, p); err != nil {
			p.stop(10 * time.Second)
			return fmt.Errorf("%w\n%s", err, p.out.String())
		}
	}
	r.proc = p
	return nil
}

// Stop shuts the node down and waits until it is gone; its epmd keeps
// running so that [RabbitMQ.Start] can boot it again on the same ports.
// Stopping a stopped node does nothing.
func (r *RabbitMQ) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return
	}
	r.proc.stop(30 * time.Second)
	r.proc = nil
	waitClosed(r.StompAddr(), 10*time.Second)
}

// Close stops the node and its epmd.
func (r *RabbitMQ) Close() {
	r.Stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.epmd != nil {
		r.epmd.stop(5 * time.Second)
		r.epmd = nil
	}
}

// Restart stops the node and boots it again on the same ports.
func (r *RabbitMQ) Restart() error {
	r.Stop()
	return r.Start()
}
