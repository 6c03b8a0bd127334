package brokertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// RabbitMQCluster is a cluster of RabbitMQ nodes on one machine: each node
// a rabbitmq-server of its own (own node name, data and log directories,
// distribution and STOMP ports), all registered with one epmd and sharing
// one Erlang cookie, joined with rabbitmqctl join_cluster. A client may
// connect to any node; queues and their messages are reachable from all.
type RabbitMQCluster struct {
	// Nodes are the members, Nodes[0] the one the others joined.
	Nodes []*RabbitMQ

	dir  string
	epmd *process
}

// NewRabbitMQCluster starts a cluster of n RabbitMQ nodes (rabbitmq_stomp
// enabled) for one test and stops it when the test ends. It takes a while
// (the nodes boot in parallel, then join one at a time): start it once per
// package and run the cases on it. Without rabbitmq-server the test is
// skipped, or fails when [RequireEnv] is set.
func NewRabbitMQCluster(t testing.TB, n int) *RabbitMQCluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("brokertest: a cluster of %d nodes", n)
	}
	bin, epmd, msg := rabbitBinaries()
	if msg != "" {
		missing(t, msg)
	}
	c, err := startRabbitMQCluster(bin, epmd, t.TempDir(), n)
	if c != nil {
		t.Cleanup(func() {
			if t.Failed() {
				for _, r := range c.Nodes {
					t.Logf("RabbitMQ node %s log (tail):\n%s", r.Name(), r.Log())
				}
			}
			c.Close()
		})
	}
	if err != nil {
		t.Fatalf("brokertest: RabbitMQ cluster: %v", err)
	}
	return c
}

// StartRabbitMQCluster is [NewRabbitMQCluster] outside a test (the
// rabbitcluster command): the nodes keep their files in dir and run until
// [RabbitMQCluster.Close], or until this process exits.
func StartRabbitMQCluster(dir string, n int) (*RabbitMQCluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("brokertest: a cluster of %d nodes", n)
	}
	bin, epmd, msg := rabbitBinaries()
	if msg != "" {
		return nil, errors.New(msg)
	}
	c, err := startRabbitMQCluster(bin, epmd, dir, n)
	if err != nil && c != nil {
		c.Close()
	}
	return c, err
}

func startRabbitMQCluster(bin, epmdBin, dir string, n int) (*RabbitMQCluster, error) {
	c := &RabbitMQCluster{dir: dir}
	epmdPort, err := freePort()
	if err != nil {
		return nil, err
	}
	// One epmd for all nodes: nodes find each other's distribution ports
	// through it. A child of ours, so that it dies with the tests.
	p, err := startProcess("epmd", nil, dir, epmdBin, "-port", fmt.Sprint(epmdPort), "-address", "127.0.0.1")
	if err != nil {
		return nil, err
	}
	c.epmd = p
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err = waitPort(ctx, "epmd", hostPort(epmdPort), p)
	cancel()
	if err != nil {
		return c, err
	}
	var id [6]byte
	_, _ = rand.Read(id[:])
	cookie := strings.ToUpper(hex.EncodeToString(id[:])) + "GOUSPCLUSTER"
	prefix := "gousp" + hex.EncodeToString(id[:3])
	for i := range n {
		nodeDir := filepath.Join(dir, fmt.Sprintf("node%d", i+1))
		if err := os.Mkdir(nodeDir, 0o700); err != nil {
			return c, err
		}
		r, err := newRabbitMQ(bin, epmdBin, nodeDir, RabbitMQConfig{},
			rabbitNode{name: fmt.Sprintf("%s-%d", prefix, i+1), epmdPort: epmdPort, cookie: cookie}, nil)
		if err != nil {
			return c, err
		}
		c.Nodes = append(c.Nodes, r)
	}
	// Boot in parallel: each node takes seconds, mostly Erlang starting.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, r := range c.Nodes {
		wg.Go(func() { errs[i] = r.Start() })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	// Join one at a time: concurrent joins to one node can conflict.
	first := c.Nodes[0].Name()
	for _, r := range c.Nodes[1:] {
		if err := r.join(first); err != nil {
			return c, err
		}
	}
	return c, nil
}

// join makes r a member of the cluster that node belongs to.
func (r *RabbitMQ) join(node string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for _, args := range [][]string{{"stop_app"}, {"join_cluster", node}, {"start_app"}} {
		if _, err := r.Ctl(ctx, args...); err != nil {
			return fmt.Errorf("node %s: %w", r.Name(), err)
		}
	}
	// start_app returns once the listeners are up, but check.
	r.mu.Lock()
	p := r.proc
	r.mu.Unlock()
	return waitPort(ctx, "rabbitmq-server", r.StompAddr(), p)
}

// StompAddrs are the nodes' STOMP listeners (host:port), in node order.
func (c *RabbitMQCluster) StompAddrs() []string {
	out := make([]string, len(c.Nodes))
	for i, r := range c.Nodes {
		out[i] = r.StompAddr()
	}
	return out
}

// RunningNodes asks node i which nodes of its cluster are running, by
// name: a check that the nodes did form one cluster.
func (c *RabbitMQCluster) RunningNodes(ctx context.Context, i int) ([]string, error) {
	out, err := c.Nodes[i].Ctl(ctx, "eval", "io:format(\"~s~n\", [string:join([atom_to_list(N) || N <- rabbit_nodes:all_running()], \",\")]).")
	if err != nil {
		return nil, err
	}
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	return strings.Split(strings.TrimSpace(line), ","), nil
}

// Close stops every node, then the epmd.
func (c *RabbitMQCluster) Close() {
	var wg sync.WaitGroup
	for _, r := range c.Nodes {
		wg.Go(r.Close)
	}
	wg.Wait()
	if c.epmd != nil {
		c.epmd.stop(5 * time.Second)
		c.epmd = nil
	}
}
