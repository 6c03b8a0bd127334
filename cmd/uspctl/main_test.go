package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gousp/gousp/internal/brokertest"
)

// TestMain checks for leaked goroutines once the tests pass.
func TestMain(m *testing.M) { brokertest.Main(m) }

// cliRun is one finished run of uspctl.
type cliRun struct {
	stdout, stderr string
	code           int
}

// runCLI runs uspctl in-process with the given environment (nothing from
// the real one: XDG_CONFIG_HOME points to an empty directory unless env
// sets it) and stdin.
func runCLI(t testing.TB, env map[string]string, stdin string, args ...string) cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return runCLICtx(ctx, t, env, stdin, nil, args...)
}

func runCLICtx(ctx context.Context, t testing.TB, env map[string]string, stdin string, prepare func(*app), args ...string) cliRun {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env["XDG_CONFIG_HOME"]; !ok {
		env["XDG_CONFIG_HOME"] = filepath.Join(t.TempDir(), "no-config")
	}
	var out, errOut bytes.Buffer
	a := newApp(strings.NewReader(stdin), &out, &errOut, func(k string) string { return env[k] })
	a.terminal = func(io.Writer) bool { return false }
	if prepare != nil {
		prepare(a)
	}
	code := a.run(ctx, args)
	r := cliRun{stdout: out.String(), stderr: errOut.String(), code: code}
	if testing.Verbose() {
		t.Logf("uspctl %s -> %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, r.stdout, r.stderr)
	}
	return r
}

func (r cliRun) wantCode(t testing.TB, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
}
