package pgstore_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/store/pgstore"
	"github.com/gousp/gousp/usp/store/storetest"
)

func TestMain(m *testing.M) {
	if os.Getenv(fleetEnv) != "" {
		os.Exit(fleetProcess()) // one controller process of TestFleetProcesses
	}
	goleak.VerifyTestMain(m)
}

// required reports whether a missing PostgreSQL fails the tests instead of
// skipping them (CI sets it, as for the brokers).
func required() bool { return os.Getenv("GOUSP_REQUIRE_BROKERS") == "1" }

// postgresBin finds initdb and postgres: on PATH, else in Debian's
// /usr/lib/postgresql/<version>/bin.
func postgresBin(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(found) == 0 {
		return "", false
	}
	return found[len(found)-1], true
}

// startPostgres starts a throw-away PostgreSQL on a free loopback port and
// returns its connection string. As root it runs the server as the
// "postgres" user (the server refuses to run as root).
func startPostgres(t *testing.T) string {
	t.Helper()
	initdb, ok1 := postgresBin("initdb")
	postgres, ok2 := postgresBin("postgres")
	if !ok1 || !ok2 {
		if required() {
			t.Fatal("PostgreSQL is required (GOUSP_REQUIRE_BROKERS=1) but initdb/postgres are not installed: apt-get install postgresql")
		}
		t.Skip("PostgreSQL not installed (apt-get install postgresql); skipping")
	}
	dir, err := os.MkdirTemp("", "gousp-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("running as root without a postgres user to run the server as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	run := func(bin string, args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
		cmd.Dir = dir
		return cmd
	}
	data := filepath.Join(dir, "data")
	if out, err := run(initdb, "-D", data, "-U", "gousp", "--auth=trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	srv := run(postgres, "-D", data, "-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+dir, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.Process.Signal(syscall.SIGINT) // fast shutdown
		done := make(chan struct{})
		go func() { _ = srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-srv.Process.Pid, syscall.SIGKILL)
			<-done
		}
		_ = logf.Close()
	})
	conn := fmt.Sprintf("postgres://gousp@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := pgstore.Open(t.Context(), conn, pgstore.WithTablePrefix("probe_"))
		if err == nil {
			s.Close()
			return conn
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("PostgreSQL did not start: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var tables atomic.Int64

func TestStore(t *testing.T) {
	conn := startPostgres(t)
	open := func(t *testing.T) usp.Store {
		// A fresh set of tables for each check: the store starts empty.
		s, err := pgstore.Open(t.Context(), conn, pgstore.WithTablePrefix(fmt.Sprintf("t%d_", tables.Add(1))))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}
	storetest.Run(t, open)
	storetest.RunShared(t, open)
}

// TestConcurrentOpen: processes starting together create the tables once.
func TestConcurrentOpen(t *testing.T) {
	conn := startPostgres(t)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			s, err := pgstore.Open(context.Background(), conn, pgstore.WithTablePrefix("race_"))
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestOptions(t *testing.T) {
	for _, p := range []string{"", "Upper_", "a-b", "x;drop table y;", strings.Repeat("a", 41)} {
		if _, err := pgstore.New(context.Background(), nil, pgstore.WithTablePrefix(p)); err == nil {
			t.Errorf("prefix %q accepted", p)
		}
	}
}
