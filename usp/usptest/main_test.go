package usptest

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	strictShare = true // a write transaction holding a shared instance panics
	goleak.VerifyTestMain(m)
}
