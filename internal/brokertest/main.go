package brokertest

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// Main runs a test binary that may use the shared brokers: it runs the
// tests, stops the shared RabbitMQ node ([Shutdown]), then checks for
// leaked goroutines with goleak (with opts) and exits. Use it as the whole
// body of TestMain:
//
//	func TestMain(m *testing.M) { brokertest.Main(m) }
func Main(m *testing.M, opts ...goleak.Option) {
	code := m.Run()
	Shutdown()
	if code == 0 {
		if err := goleak.Find(append(GoleakOptions(), opts...)...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: errors on successful test run: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// GoleakOptions lists goroutines that the brokers of this package leave
// behind by design (the go-stomp server's request loop has no way to
// stop); pass them to goleak when a package uses [StartStompServer]
// without [Main].
func GoleakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/go-stomp/stomp/v3/server.(*requestProcessor).Serve"),
	}
}
