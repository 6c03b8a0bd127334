package brokertest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RequireEnv names the environment variable that turns "broker not
// installed" skips into failures. CI (.ci/run) sets it to 1 so that the
// real-broker tests can never be skipped silently there.
const RequireEnv = "GOUSP_REQUIRE_BROKERS"

// Required reports whether [RequireEnv] asks for real brokers.
func Required() bool {
	v := os.Getenv(RequireEnv)
	return v != "" && v != "0" && v != "false"
}

// missing skips t because a broker binary is not installed, or fails it
// when [Required] is true.
func missing(t testing.TB, msg string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s (%s is set, so this is a failure)", msg, RequireEnv)
	}
	t.Skip(msg)
}

// lookBinary finds the first of candidates that exists and is executable; a
// candidate without a slash is searched in PATH.
func lookBinary(candidates ...string) (string, bool) {
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p, true
		}
	}
	return "", false
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatalf("brokertest: free port: %v", err)
	}
	return p
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// process is a broker child process under a watchdog: the broker runs
// inside a small shell that kills it as soon as its standard input, a pipe
// held by this test process, reaches end of file. So the broker dies with
// the test binary even when the binary is killed without running cleanups.
type process struct {
	name string
	cmd  *exec.Cmd
	keep io.WriteCloser // write end of the watchdog pipe
	out  *lockedBuffer
	done chan struct{}
	err  error // exit status, valid after done
}

// watchdogScript runs "$@" with stdin from /dev/null and stops it with
// SIGTERM when its own stdin closes (the test binary stopped it, or died).
// It exits as soon as the child does, with the child's status, so that a
// broker that crashes while booting is seen at once instead of when the
// wait for its port times out (90 s for RabbitMQ). The reader gets stdin
// through fd 3: sh gives a background list /dev/null as its stdin.
const watchdogScript = `exec 3<&0
"$@" </dev/null 3<&- & child=$!
( read _ <&3 || true; kill -TERM $child 2>/dev/null ) &
reader=$!
trap 'kill -TERM $child 2>/dev/null; wait $child; exit 0' TERM
wait $child
rc=$?
kill $reader 2>/dev/null
exit $rc`

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 { // keep memory bounded for chatty brokers
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startProcess(name string, env []string, dir string, bin string, args ...string) (*process, error) {
	cmd := exec.Command("/bin/sh", append([]string{"-c", watchdogScript, "sh", bin}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = dir
	out := &lockedBuffer{}
	cmd.Stdout = out
	cmd.Stderr = out
	// A process group of its own, so that a hard stop can kill the
	// broker's children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	keep, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("brokertest: start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, keep: keep, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// stop asks the watchdog to stop the broker and waits up to grace before
// killing the whole process group.
func (p *process) stop(grace time.Duration) {
	_ = p.keep.Close()
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitPort waits until addr accepts TCP connections, the process exits, or
// timeout passes.
func waitPort(ctx context.Context, name, addr string, p *process) error {
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = c.Close()
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited before listening on %s: %v", name, addr, p.err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not listening on %s: %w", name, addr, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitClosed waits until nothing accepts connections on addr any more.
func waitClosed(addr string, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return
		}
		_ = c.Close()
		time.Sleep(20 * time.Millisecond)
	}
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	return p
}
