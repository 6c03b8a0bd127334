package main

import (
	"testing"

	"github.com/gousp/gousp/internal/brokertest"
)

// TestMain runs uspsim (as a worker) or a child role of the memory
// benchmark when asked to, else
// the tests, checking for leaked goroutines once they pass.
func TestMain(m *testing.M) {
	asMain()
	childMain()
	brokertest.Main(m)
}
