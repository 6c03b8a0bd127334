package conformance

import (
	"testing"

	"github.com/gousp/gousp/internal/brokertest"
)

// TestMain stops the shared RabbitMQ node and checks for leaks.
func TestMain(m *testing.M) { brokertest.Main(m) }
