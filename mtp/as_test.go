package mtp_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/mtp/memory"
)

type rejecting struct {
	mtp.Transport
	rejected []string
}

func (r *rejecting) Reject(peerID, _ string) error {
	r.rejected = append(r.rejected, peerID)
	return nil
}

type wrapper struct{ inner mtp.Transport }

func (w wrapper) Unwrap() mtp.Transport { return w.inner }

// wrapper satisfies mtp.Transport through an embedded interface kept nil on
// purpose: As must not call anything but Unwrap on it.
type wrapped struct {
	mtp.Transport
	wrapper
}

func TestAsLooksThroughWrappers(t *testing.T) {
	ep, err := memory.NewNetwork().Endpoint("a")
	require.NoError(t, err)
	inner := &rejecting{Transport: ep}
	outer := wrapped{wrapper: wrapper{inner: wrapped{wrapper: wrapper{inner: inner}}}}

	rj, ok := mtp.As[mtp.Rejecter](outer)
	require.True(t, ok, "Rejecter two wrappers down")
	require.NoError(t, rj.Reject("peer", "bad record"))
	assert.Equal(t, []string{"peer"}, inner.rejected)

	_, ok = mtp.As[mtp.SinglePeer](outer)
	assert.False(t, ok, "nothing in the chain is a SinglePeer")

	// A wrapper that unwraps to nil, or to itself, ends the search.
	_, ok = mtp.As[mtp.Rejecter](wrapped{wrapper: wrapper{}})
	assert.False(t, ok)
	var self selfWrapper
	_, ok = mtp.As[mtp.Rejecter](&self)
	assert.False(t, ok)
}

type selfWrapper struct{ mtp.Transport }

func (s *selfWrapper) Unwrap() mtp.Transport { return s }
